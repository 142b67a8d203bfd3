/**
 * Tool calling, free of HTTP: a request's tools and tool choice as parsed values, the tool-call
 * formats of the common model families (reading calls out of generated text, and the constraint
 * that makes a model write calls that parse and match the tools' schemas), built on
 * {@code io.loraserve.constraint}.
 */
package io.loraserve.tools;
