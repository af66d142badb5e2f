// The registry of subcommands; each lives in its own file.
import type { Command } from './command.js';

export const commands: Record<string, Command> = {
};
