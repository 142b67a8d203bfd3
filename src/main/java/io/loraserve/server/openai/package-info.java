/**
 * The OpenAI-compatible API on the public port: completions, chat completions, models, tokenize
 * and detokenize; their request parsing, structured-output fields and response and chunk shapes;
 * and {@link io.loraserve.server.openai.Generation}, the bridge from one API request to the
 * engine's requests, which knows no Helidon type.
 */
package io.loraserve.server.openai;
