package io.loraserve.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Keeps the benchmark command working: a --quick run produces every figure (timings are not asserted). */
class BenchmarkSmokeTest {
    @TempDir
    Path work;

    @Test
    void quickRunReportsEveryRatio() throws Exception {
        Benchmark b = new Benchmark(Benchmark.Settings.parse(new String[] {"--quick", "--threads", "1", "--work",
                work.toString()}));
        Map<String, Object> results = b.run();
        for (String key : List.of("B1_multi_adapter_vs_base", "B2_batched_vs_sequential", "B3_pinned_vs_base",
                "B4_load_mb_per_s", "B4_hot_load_tpot_rise", "B7_gemm_efficiency", "B8_weight_bandwidth_1_row",
                "B8_weight_bandwidth_16_rows", "B9_sampled_vs_greedy_v512", "B9_sampled_vs_greedy_v128256",
                "B10_bf16_vs_f32_1_rows", "B10_bf16_vs_f32_16_rows", "B12_int8_vs_f32_1_rows", "B12_int8_vs_f32_16_rows",
                "B11_cpu_8_adapters_ops_per_step", "B11_gpu_32_adapters_syncs_per_step", "B11_gpu_lora_ops_32_vs_1",
                "B14_prefix_prefill_speedup", "B14_prefix_ttft_p50_speedup", "B14_prefix_prefill_speedup_8_adapters",
                "B14_chat_replay_speedup", "B14_miss_path_vs_off")) {
            Object v = results.get(key);
            assertTrue(v instanceof Double d && Double.isFinite(d), key + " = " + v);
        }
        assertEquals(0.0, results.get("B14_cross_adapter_hit_tokens"), "no adapter finds another adapter's prefix cached");
    }

    @Test
    void quickAdapterScaleRunReportsEveryB6Figure() throws Exception {
        Benchmark b = new Benchmark(Benchmark.Settings.parse(new String[] {"--quick", "--threads", "1", "--work",
                work.toString(), "--only", "B6"}));
        Map<String, Object> results = b.run();
        for (String key : List.of("B6_zipf_vs_one_adapter", "B6_cold_ttft_p99_ms", "B6_host_bytes_max_over_cap",
                "B6_first_use_ttft_ms", "B6_distinct_names_rss_growth_mib", "B6_distinct_names_fd_growth")) {
            Object v = results.get(key);
            assertTrue(v instanceof Double d && Double.isFinite(d), key + " = " + v);
        }
        assertTrue((Double) results.get("B6_host_bytes_max_over_cap") <= 1.0, "host bytes stayed under the cap");
    }
}
