/**
 * Message sizes of the contract (proto/polarise/v1/miner.proto; README,
 * "Message sizes"). Every gRPC implementation refuses messages over 4 MiB by
 * default; Polarise keeps every message in either direction at or under
 * MAX_MESSAGE_BYTES, so any client works with its default settings.
 */

/** The largest message the miner sends or accepts (its gRPC send and receive limits). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

/** The most output bytes one OutputChunk event carries. */
export const OUTPUT_CHUNK_BYTES = 256 * 1024;

/** The most bytes of standard output the final CommandResult.output carries (its tail). */
export const RESULT_TAIL_BYTES = 256 * 1024;

/** The most bytes of standard error the final CommandResult.stderr carries (its tail). */
export const STDERR_TAIL_BYTES = 64 * 1024;

/** The most bytes RunChallengeRequest.stdin may hold (INVALID_ARGUMENT above it). */
export const MAX_STDIN_BYTES = 512 * 1024;

/** The most bytes RunChallengeRequest.command may hold, its arguments' lengths summed. */
export const MAX_COMMAND_BYTES = 256 * 1024;

/** The most arguments RunChallengeRequest.command may hold. */
export const MAX_COMMAND_ARGS = 4096;
