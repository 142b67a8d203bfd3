/**
 * Chat templates: a model's Jinja {@code chat_template} rendered as HuggingFace transformers
 * renders it, refusals and failures reported as {@link io.loraserve.chat.ChatTemplateException}.
 * Knows no HTTP server.
 */
package io.loraserve.chat;
