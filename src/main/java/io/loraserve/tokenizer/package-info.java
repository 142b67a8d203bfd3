/**
 * Tokenizers: tokenizer.json through DJL's HuggingFace tokenizers, incremental detokenizing, tokenizer_config.json's special tokens and chat template.
 */
package io.loraserve.tokenizer;
