import type { CommandModule } from './types.js';

const demo: CommandModule = {
  builder: (y) => y,
  async handler(_args, io) {
    const { runDemo } = await import('../demo.js');
    return runDemo(io);
  },
};

export default demo;
