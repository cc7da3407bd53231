import type { CommandModule } from './types.js';

const checks: CommandModule = {
  builder: (y) => y.option('format', { choices: ['text', 'json', 'markdown'], default: 'text' }),
  async handler(args, io) {
    const { listChecks } = await import('../../gate/catalog.js');
    io.stdout.write(listChecks(args.format as 'text' | 'json' | 'markdown'));
    return 0;
  },
};

export default checks;
