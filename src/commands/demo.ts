import type { CommandModule } from './types.js';

const demo: CommandModule = {
  command: 'demo',
  describe: 'start a throwaway PostgreSQL, stage a forgotten transaction and a queued ALTER, and show the gate pass, fail and pass again',
  builder: (y) => y,
  async handler(_args, io) {
    const { runDemo } = await import('../demo.js');
    return runDemo(io);
  },
};

export default demo;
