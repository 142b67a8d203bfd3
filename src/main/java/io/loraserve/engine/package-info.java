/**
 * The engine: requests and sequences, the scheduler (which sequences a step runs, adapters counted against --max-adapters), the loop (schedule, activate adapters, forward, sample), prefix-cache blocks, the runtime and its typed settings.
 */
package io.loraserve.engine;
