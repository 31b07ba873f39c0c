/**
 * Length caps for request strings, checked before anything parses, trims or
 * matches them, so no field's size decides how long the miner works on it.
 */
import { invalidArgument } from './errors.js';

export const FIELD_LIMITS = {
  /** A Docker id (64 hex) or a container name, with room to spare. */
  container_id: 256,
  /** "gpu:id=<UUID>" and the like. */
  device: 128,
  /** One authorized_keys line. */
  public_key: 16 * 1024,
  /** "512m", "1.5GiB". */
  memory: 64,
} as const;

/** Throws INVALID_ARGUMENT naming `field` when `text` is over `max` characters. */
export function capLength(field: string, text: string, max: number): string {
  if (text.length > max) throw invalidArgument(field, `is ${text.length} characters; at most ${max} are allowed`);
  return text;
}
