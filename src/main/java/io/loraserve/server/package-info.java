/**
 * One running loraserve: {@link io.loraserve.server.LoraServer} wires the model runtime, the
 * OpenAI and admin services and the HTTP plumbing into two Helidon listeners (public and admin)
 * and owns them until close, and serves the process's own endpoints on both: health, metrics,
 * version. It also supplies Helidon's config and logging to the launcher.
 */
package io.loraserve.server;
