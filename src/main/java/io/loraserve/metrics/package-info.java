/**
 * Metrics: the Micrometer/Prometheus registry, every meter and its name, vLLM-compatible gauges fed by the engine's and the registry's events.
 */
package io.loraserve.metrics;
