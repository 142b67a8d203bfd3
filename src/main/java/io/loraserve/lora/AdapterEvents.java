package io.loraserve.lora;

/**
 * What the adapter catalogue tells observers (metrics): loads, removals, pinning and where an
 * adapter's weights live. Only the current version of a name reports; a replaced version that
 * finishes its last requests stays silent. Called on whichever thread made the change; must not block.
 */
public interface AdapterEvents {
    AdapterEvents NONE = new AdapterEvents() {
    };

    /** {@code adapter} is ready: {@code bytes} of weights, loaded (disk to ready) in {@code seconds}. */
    default void adapterLoaded(String adapter, long bytes, double seconds) {
    }

    /** {@code adapter} left the catalogue (unloaded); its running requests may still finish. */
    default void adapterRemoved(String adapter) {
    }

    default void adapterPinned(String adapter, boolean pinned) {
    }

    /** {@code tier} is "device" while a device slot holds the adapter, else "host". */
    default void adapterTier(String adapter, String tier) {
    }
}
