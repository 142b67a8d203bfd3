package io.loraserve.engine;

import io.loraserve.constraint.Constraint;
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
 * @param constraint   what the output must match (structured output), or null; each sequence follows it with
 *                     its own matcher, and an end-of-sequence token it allows ends the request even with
 *                     {@code ignoreEos} (the output is complete)
 */
public record Request(String id, int[] promptIds, Adapter adapter, SamplingParams sampling, int maxTokens,
                      Set<Integer> stopTokenIds, boolean ignoreEos, int promptLogprobs, TokenSink sink,
                      Constraint constraint) {

    /** An unconstrained request. */
    public Request(String id, int[] promptIds, Adapter adapter, SamplingParams sampling, int maxTokens,
                   Set<Integer> stopTokenIds, boolean ignoreEos, int promptLogprobs, TokenSink sink) {
        this(id, promptIds, adapter, sampling, maxTokens, stopTokenIds, ignoreEos, promptLogprobs, sink, null);
    }
}
