/**
 * The `rest` section: the seed's HTTP API (POST /allocate, PUT /challenge/{id},
 * GET /containers, DELETE /containers/{id}) served over HTTPS with the same
 * mutual TLS, certificates (security.*) and roles as gRPC, on its own port.
 */
import { z } from 'zod';

export const rest = z.strictObject({
  /** Off by default: the gRPC API is the primary one. */
  enabled: z.boolean().default(false),
  host: z.string().min(1).default('0.0.0.0'),
  /** 0 picks a free port (it is logged). */
  port: z.number().int().min(0).max(65535).default(8080),
  /** A request body larger than this is refused with 413 before it is parsed. */
  max_body_bytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(64 * 1024),
  /** Requests handled at once (a challenge holds one for its whole run); one more gets 429. */
  max_concurrent_requests: z.number().int().min(1).max(10_000).default(64),
  /** Open client connections; more are closed at once. */
  max_connections: z.number().int().min(1).max(100_000).default(256),
});
