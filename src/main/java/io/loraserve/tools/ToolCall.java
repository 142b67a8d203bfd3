package io.loraserve.tools;

/**
 * A call the model made: the function's name and its arguments as JSON text (as OpenAI's
 * {@code function.arguments}, a string).
 */
public record ToolCall(String name, String arguments) {
}
