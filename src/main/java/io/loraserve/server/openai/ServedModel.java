package io.loraserve.server.openai;

/**
 * What the API says about the base model.
 *
 * @param name        the served model name ({@code --served-model-name})
 * @param architecture the checkpoint's {@code architectures[0]}, e.g. {@code Qwen3ForCausalLM}
 * @param maxModelLen prompt + completion tokens per request at most
 * @param vocab       token ids must be below this
 * @param created     epoch seconds the server started (OpenAI's {@code created})
 */
public record ServedModel(String name, String architecture, int maxModelLen, int vocab, long created) {
}
