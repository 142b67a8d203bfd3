/**
 * Structured outputs: regex, choice, JSON schema and GBNF compiled to a byte-level automaton, token masks over the vocabulary. No libtorch, no Helidon.
 */
package io.loraserve.constraint;
