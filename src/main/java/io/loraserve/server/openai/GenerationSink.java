package io.loraserve.server.openai;

import io.loraserve.engine.FinishReason;
import io.loraserve.engine.TokenSink;
import io.loraserve.model.Sampler;
import io.loraserve.tokenizer.IncrementalDecoder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;

/**
 * Turns one choice's tokens into text on the engine thread and hands events, tagged with the
 * choice's index, to the queue the HTTP thread reads (a streaming choice's tokens at once, a
 * non-streaming one's with its finish) (shared by all choices of one API request,
 * see {@link Generation}). Applies stop strings: the text is cut before the first stop string
 * and generation stops there; while streaming, the last {@code longestStop - 1} characters are
 * held back so a stop string is never half-sent.
 */
final class GenerationSink implements TokenSink {
    /**
     * What the HTTP side receives for one choice, in order: with prompt logprobs the prompt's scores,
     * then tokens, then one finish or failure.
     */
    sealed interface Event permits PromptScores, Token, Finish, Failure {
        int choice();
    }

    /** The prompt's tokens after the first, scored ({@link TokenSink#onPromptLogprobs}). */
    record PromptScores(int choice, List<Sampler.Sample> scores) implements Event {
    }

    /** One generated token; {@code delta} is the text now safe to send (may be empty); offsets count code points. */
    record Token(int choice, int id, String delta, float logprob, Sampler.Candidate[] top, int textOffset)
            implements Event {
    }

    /** The choice ended; {@code cachedTokens} of its prompt came from the prefix cache. */
    record Finish(int choice, FinishReason reason, String delta, int promptTokens, int completionTokens,
                  int cachedTokens) implements Event {
    }

    record Failure(int choice, String message, boolean overloaded) implements Event {
    }

    private final int choice;
    private final IncrementalDecoder decoder;
    private final List<String> stops;
    private final int holdBack;
    private final BlockingQueue<Event> events;
    private final List<Event> held;  // a non-streaming choice's tokens, handed over when it ends; else null
    private final StringBuilder text = new StringBuilder();
    private int sent;
    private boolean stopped;

    /**
     * {@code streaming} false: tokens are held and handed over with the finish, so the HTTP thread
     * is not woken for every token of an answer it sends whole (a woken thread takes a core from
     * the CPU kernels mid-pass).
     */
    GenerationSink(int choice, IncrementalDecoder decoder, List<String> stops, BlockingQueue<Event> events,
                   boolean streaming) {
        this.choice = choice;
        this.held = streaming ? null : new ArrayList<>();
        this.decoder = decoder;
        this.stops = stops;
        this.holdBack = stops.stream().mapToInt(String::length).max().orElse(1) - 1;
        this.events = events;
    }

    @Override
    public void onPromptLogprobs(List<Sampler.Sample> scores) {
        events.add(new PromptScores(choice, scores));
    }

    @Override
    public boolean onToken(Sampler.Sample s) {
        int offset = text.codePointCount(0, text.length());
        if (!stopped) {
            append(decoder.push(s.token()));
        }
        Token token = new Token(choice, s.token(), release(false), s.logprob(), s.top(), offset);
        if (held != null) {
            held.add(token);
        } else {
            events.add(token);
        }
        return !stopped;
    }

    @Override
    public void onFinish(FinishReason reason, int promptTokens, int completionTokens, int cachedTokens) {
        if (!stopped) {
            append(decoder.flush());
        }
        handOverHeld();
        events.add(new Finish(choice, stopped ? FinishReason.STOP : reason, release(true), promptTokens,
                completionTokens, cachedTokens));
    }

    @Override
    public void onError(String message, boolean overloaded) {
        handOverHeld();
        events.add(new Failure(choice, message, overloaded));
    }

    private void handOverHeld() {
        if (held != null) {
            events.addAll(held);
            held.clear();
        }
    }

    private void append(String piece) {
        int searchFrom = Math.max(0, text.length() - holdBack);
        text.append(piece);
        int cut = -1;
        for (String stop : stops) {
            int i = text.indexOf(stop, searchFrom);
            if (i >= 0 && (cut < 0 || i < cut)) {
                cut = i;
            }
        }
        if (cut >= 0) {
            text.setLength(cut);
            stopped = true;
        }
    }

    /**
     * The text that may be sent now: all of it when final or stopped, else all but the hold-back,
     * never ending between the two halves of a surrogate pair.
     */
    private String release(boolean last) {
        int end = last || stopped ? text.length() : Math.max(sent, text.length() - holdBack);
        if (end > sent && end < text.length() && Character.isHighSurrogate(text.charAt(end - 1))) {
            end--;
        }
        String delta = text.substring(Math.min(sent, end), end);
        sent = Math.max(sent, end);
        return delta;
    }
}
