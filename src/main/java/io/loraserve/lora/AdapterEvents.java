package io.loraserve.lora;

/**
 * What the adapter catalogue and the device slots tell observers (metrics): loads, removals, pinning, where an
 * adapter's weights live, and each tier's hits, misses, evictions and fill times. Only the current version of a name
 * reports its state; a replaced version that finishes its last requests stays silent. Called on whichever thread
 * made the change (the engine thread for the device tier); must not block.
 */
public interface AdapterEvents {
    AdapterEvents NONE = new AdapterEvents() {
    };

    /** The tiers, nearest the forward pass first: device slots, host copies, the adapter's directory. */
    String DEVICE = "device";
    String HOST = "host";
    String DISK = "disk";

    /** {@code adapter} is ready: {@code bytes} of weights, loaded (disk to ready) in {@code seconds}. */
    default void adapterLoaded(String adapter, long bytes, double seconds) {
    }

    /** {@code adapter} left the catalogue (unloaded); its running requests may still finish. */
    default void adapterRemoved(String adapter) {
    }

    default void adapterPinned(String adapter, boolean pinned) {
    }

    /** {@code tier} is where the adapter's weights are now: {@link #DEVICE}, {@link #HOST} or {@link #DISK}. */
    default void adapterTier(String adapter, String tier) {
    }

    /** A request found its adapter in {@code tier} ({@link #DEVICE} or {@link #HOST}). */
    default void tierHit(String tier) {
    }

    /** A request did not find its adapter in {@code tier}, which was then filled from the tier below in {@code seconds}. */
    default void tierMiss(String tier, double seconds) {
    }

    /** {@code tier} dropped an idle adapter to make room for another. */
    default void tierEvicted(String tier) {
    }
}
