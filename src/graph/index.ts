/** CUDA graphs: capture and replay of device work (docs/cuda-graphs.md). */
export { CudaGraph, type CudaGraphState, graphsSupported } from './cuda-graph.js';
export { type GraphCaptureFailure, type GraphedFn, StepGraphs, type StepGraphStats, type StepGraphsOptions } from './step-graphs.js';
