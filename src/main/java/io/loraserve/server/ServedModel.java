package io.loraserve.server;

/**
 * What the API says about the base model.
 *
 * @param name        the served model name ({@code --served-model-name})
 * @param maxModelLen prompt + completion tokens per request at most
 * @param vocab       token ids must be below this
 * @param created     epoch seconds the server started (OpenAI's {@code created})
 */
public record ServedModel(String name, int maxModelLen, int vocab, long created) {
}
