import { terminalWidth } from './shared.js';
import type { CommandModule } from './types.js';

const checks: CommandModule = {
  builder: (y) =>
    y
      .option('format', { choices: ['table', 'json', 'markdown'], default: 'table', describe: 'output format on stdout (text was the old name of table)' })
      .example('$0 checks --format markdown', 'the reference docs/checks.md is generated from'),
  async handler(args, io) {
    const { listChecks } = await import('../../gate/catalog.js');
    const format = args.format as 'table' | 'json' | 'markdown';
    io.stdout.write(listChecks(format === 'table' ? 'text' : format, terminalWidth(io) ?? 80));
    return 0;
  },
};

export default checks;
