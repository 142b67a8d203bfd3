package io.loraserve.engine;

/**
 * How the base model is loaded and computed ({@code --device}, {@code --dtype}, {@code --kernels},
 * {@code --quantization}, {@code --gpu-policy}, {@code --max-model-len}, {@code --threads}). Defaults:
 * {@link RuntimeSettings#builder()}.
 *
 * @param device       cpu, cuda or cuda:N
 * @param dtype        auto, float32, bfloat16 or float16; auto = float32 on a CPU, bfloat16 on CUDA
 * @param kernels      auto, java or torch: see {@link io.loraserve.model.Kernels}
 * @param quantization none or int8: see {@link io.loraserve.model.Quantization}
 * @param gpuPolicy    auto (on for CUDA), on or off: see {@link io.loraserve.model.LlamaModel#gpuPolicy()}
 * @param maxModelLen  prompt + generated tokens of one sequence at most; 0 = the model's max_position_embeddings
 * @param threads      libtorch intra-op and java kernel threads
 */
public record ModelSettings(String device, String dtype, String kernels, String quantization, String gpuPolicy,
                            int maxModelLen, int threads) {
}
