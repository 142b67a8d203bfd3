/**
 * Jinjava set up to render chat templates as Python's Jinja2 does: its parser and operator
 * precedence, slices, Python's {@code str} methods, the {@code for … if} tag, HF's {@code tojson},
 * {@code items}, {@code length}, and the globals {@code raise_exception} and {@code strftime_now};
 * templates cannot include files or call Java methods.
 */
package io.loraserve.chat.jinja;
