/**
 * The admin API on the admin port: list, load, replace, unload, pin and unpin adapters (and
 * vLLM's load/unload endpoints), each change saved to {@code --state-dir} before it is answered.
 */
package io.loraserve.server.admin;
