/**
 * The user's settings: every command-line flag with its default and help line, and the values a
 * config file or the environment sets ({@link io.loraserve.config.OptionSource}), parsed into
 * {@link io.loraserve.config.Options}. Knows no HTTP server.
 */
package io.loraserve.config;
