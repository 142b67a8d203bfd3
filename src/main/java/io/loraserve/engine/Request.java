package io.loraserve.engine;

import io.loraserve.lora.Adapter;
import io.loraserve.model.SamplingParams;
import java.util.Set;

/**
 * One generation the engine runs: immutable, validated at the API edge.
 *
 * @param id           unique per server
 * @param promptIds    token ids, non-empty, each inside the vocabulary
 * @param adapter      the adapter (one reference, which the engine releases when the request ends), or
 *                     null for the base model
 * @param maxTokens    ≥ 1
 * @param stopTokenIds extra token ids that end generation (EOS is added unless {@code ignoreEos})
 * @param promptLogprobs -1 = none; else score every prompt token after the first, with this many
 *                       top alternatives ({@link TokenSink#onPromptLogprobs})
 */
public record Request(String id, int[] promptIds, Adapter adapter, SamplingParams sampling, int maxTokens,
                      Set<Integer> stopTokenIds, boolean ignoreEos, int promptLogprobs, TokenSink sink) {
}
