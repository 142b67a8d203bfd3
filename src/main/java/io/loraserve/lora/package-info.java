/**
 * LoRA adapters: PEFT reading and validation, the registry (the catalogue of names and versions, loading, load on first use, the saved catalogue), AdapterPlacement (the one owner of where an adapter lives: disk, host, device slot, merged copy), the bypass and the merged copies.
 */
package io.loraserve.lora;
