package io.loraserve.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/** {@code --dtype}: {@code auto} is float32 on a CPU and bfloat16 on CUDA; explicit names win; typos are refused. */
class DevicesTest {
    private static final Device CPU = new Device(torch.DeviceType.CPU);
    private static final Device CUDA = new Device(torch.DeviceType.CUDA, (byte) 0);  // a name only: no GPU needed

    @Test
    void autoDtypeFollowsTheDevice() {
        assertEquals(ScalarType.Float, Devices.parseDtype("auto", CPU));
        assertEquals(ScalarType.BFloat16, Devices.parseDtype("auto", CUDA));
        assertEquals(ScalarType.Float, Devices.parseDtype("float32", CUDA));
        assertEquals(ScalarType.Half, Devices.parseDtype("float16", CPU));
        assertEquals("bfloat16", Devices.dtypeName(Devices.parseDtype("auto", CUDA)));
    }

    @Test
    void unknownDtypeIsRefusedWithTheChoices() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Devices.parseDtype("float64", CPU));
        assertEquals("--dtype must be auto, float32, bfloat16 or float16, not 'float64'", e.getMessage());
    }
}
