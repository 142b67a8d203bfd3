package io.loraserve.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/** The counter sees what the calling thread asks of libtorch: top-level operators by name, and host syncs. */
class OpCounterTest {
    private static final Device CPU = new Device(torch.DeviceType.CPU);

    @Test
    @SuppressWarnings("try")
    void countsTopLevelOperatorsNotTheOnesTheyCallInside() {
        try (PointerScope scope = new PointerScope()) {
            Tensor x = torch.randn(4, 8);
            Tensor w = torch.randn(3, 8);
            try (OpCounter c = OpCounter.open()) {
                Tensor y = torch.linear(x, w);  // linear calls t and addmm inside
                y.narrow(0, 0, 2).add_(y.narrow(0, 2, 2));
                assertEquals(4, c.ops(), c.byName().toString());
                assertEquals(Map.of("aten::linear", 1L, "aten::narrow", 2L, "aten::add_", 1L), c.byName());
                assertEquals(2, c.views(), "the narrows only make views");
                assertEquals(0, c.syncs(), "nothing read on the host yet");
            }
            try (OpCounter c = OpCounter.open()) {
                torch.relu(x);
                assertEquals(1, c.ops(), "a new counter starts from zero");
            }
        }
    }

    @Test
    @SuppressWarnings("try")
    void hostReadsLargeUploadsAndScalarReadsAreSyncsSmallUploadsAreNot() {
        try (PointerScope scope = new PointerScope(); OpCounter c = OpCounter.open()) {
            Tensor small = Tensors.newFloats(new float[16], CPU, 16);
            assertEquals(0, c.syncs(), "a small upload is staged in pinned memory and copied asynchronously");
            Tensors.newFloats(new float[(1 << 18) + 1], CPU, (1 << 18) + 1);
            assertEquals(1, c.syncs(), "over 1 MiB the upload waits");
            Tensors.toFloats(small);
            assertEquals(2, c.syncs());
            assertEquals(((1 << 18) + 1 + 16) * 4L, c.syncBytes());
            small.sum().item();
            assertEquals(3, c.syncs(), "item() reads a device value on the host: " + c.byName());
        }
    }

    @Test
    @SuppressWarnings("try")
    void aClosedCounterCountsNothingAndAThreadHasOneAtATime() {
        try (PointerScope scope = new PointerScope()) {
            OpCounter c = OpCounter.open();
            assertThrows(IllegalStateException.class, OpCounter::open);
            c.close();
            torch.randn(2, 2).relu();
            Tensors.toFloats(torch.zeros(2));
            assertEquals(0, c.ops());
            assertEquals(0, c.syncs());
        }
    }
}
