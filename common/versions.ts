/** Versions a miner states in GetCapacity: its software's (package.json) and the contract's (the last cut of proto/releases). */
import { readFileSync } from 'node:fs';

export const CONTRACT_VERSION = '1.2.0';

export const SOFTWARE_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
