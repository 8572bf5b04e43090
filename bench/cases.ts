/** The benchmark cases: each runs the same work on the same random data in hgc and in an ONNX model. */
import { ops, randn, type Tensor } from '../src/index.js';
import { encodeModel, singleNodeModel } from './onnx-model.js';

/** An ONNX model plus its named float32 inputs. */
export interface OrtWork {
  model: Uint8Array;
  feeds: Record<string, { data: Float32Array; shape: readonly number[] }>;
}

export interface Built {
  hgc: () => Tensor;
  ort: () => OrtWork;
  /** Frees the hgc inputs. */
  dispose(): void;
}

export interface Case {
  name: string;
  /** FLOPs (2 per MAC) for compute-bound cases, bytes read + written for memory-bound ones. */
  work: { flops: number } | { bytes: number };
  build(): Built;
}

/** Random normal inputs shared by both sides: an hgc tensor and a host copy of the same values. */
class Inputs {
  readonly #tensors: Tensor[] = [];
  #seed = 1;

  rand(shape: readonly number[]): { t: Tensor; data: Float32Array; shape: readonly number[] } {
    const t = randn(shape, { seed: this.#seed++ });
    this.#tensors.push(t);
    return { t, data: t.data() as Float32Array, shape };
  }

  dispose(): void {
    for (const t of this.#tensors) t.dispose();
  }
}

function conv3x3(c: number, hw: number): Case {
  const x = [1, c, hw, hw], w = [c, c, 3, 3];
  return {
    name: `conv3x3 ${c}→${c} ${hw}×${hw}`,
    work: { flops: 2 * c * c * 9 * hw * hw },
    build() {
      const inp = new Inputs();
      const xi = inp.rand(x), wi = inp.rand(w), bi = inp.rand([c]);
      return {
        hgc: () => ops.conv2d(xi.t, wi.t, { padding: 1, bias: bi.t }),
        ort: () => ({
          model: singleNodeModel({
            opType: 'Conv',
            inputs: [{ name: 'x', shape: x }],
            initializers: [{ name: 'w', shape: w, data: wi.data }, { name: 'b', shape: [c], data: bi.data }],
            outputs: [{ name: 'y', shape: x }],
            attributes: { kernel_shape: { ints: [3, 3] }, pads: { ints: [1, 1, 1, 1] }, strides: { ints: [1, 1] } },
          }),
          feeds: { x: xi },
        }),
        dispose: () => inp.dispose(),
      };
    },
  };
}

/** A [m, k] · B [k, n], B constant (an initializer on the ONNX side). */
export function matmul(m: number, k: number, n: number, name = `matmul ${m}×${k}×${n}`): Case {
  return {
    name,
    work: { flops: 2 * m * k * n },
    build() {
      const inp = new Inputs();
      const a = inp.rand([m, k]), b = inp.rand([k, n]);
      return {
        hgc: () => ops.matmul(a.t, b.t),
        ort: () => ({
          model: singleNodeModel({
            opType: 'MatMul',
            inputs: [{ name: 'a', shape: [m, k] }],
            initializers: [{ name: 'b', shape: [k, n], data: b.data }],
            outputs: [{ name: 'y', shape: [m, n] }],
          }),
          feeds: { a },
        }),
        dispose: () => inp.dispose(),
      };
    },
  };
}

/** q [1, n, c], k/v [1, m, c]; ORT side is com.microsoft MultiHeadAttention (default scale 1/√headDim). */
function attention(name: string, heads: number, n: number, m: number, c: number): Case {
  return {
    name,
    work: { flops: 4 * heads * n * m * (c / heads) },
    build() {
      const inp = new Inputs();
      const q = inp.rand([1, n, c]), k = inp.rand([1, m, c]), v = inp.rand([1, m, c]);
      return {
        hgc: () => ops.attention(q.t, k.t, v.t, { heads }),
        ort: () => ({
          model: singleNodeModel({
            opType: 'MultiHeadAttention',
            domain: 'com.microsoft',
            inputs: [{ name: 'query', shape: q.shape }, { name: 'key', shape: k.shape }, { name: 'value', shape: v.shape }],
            outputs: [{ name: 'y', shape: q.shape }],
            attributes: { num_heads: { i: heads } },
          }),
          feeds: { query: q, key: k, value: v },
        }),
        dispose: () => inp.dispose(),
      };
    },
  };
}

/** GroupNorm (affine) + SiLU over [1, c, hw, hw]; ONNX side is GroupNormalization-21 → Sigmoid → Mul. */
function groupNormSilu(c: number, hw: number, groups: number): Case {
  const shape = [1, c, hw, hw];
  const eps = 1e-5;
  return {
    name: `group_norm+SiLU ${c}×${hw}×${hw}`,
    work: { bytes: 2 * 4 * c * hw * hw },
    build() {
      const inp = new Inputs();
      const x = inp.rand(shape), scale = inp.rand([c]), bias = inp.rand([c]);
      return {
        hgc: () => ops.groupNorm(x.t, groups, { weight: scale.t, bias: bias.t, eps, silu: true }),
        ort: () => ({
          model: encodeModel({
            opset: 21,
            irVersion: 10,
            inputs: [{ name: 'x', shape }],
            initializers: [{ name: 'scale', shape: [c], data: scale.data }, { name: 'bias', shape: [c], data: bias.data }],
            outputs: [{ name: 'y', shape }],
            nodes: [
              { opType: 'GroupNormalization', inputs: ['x', 'scale', 'bias'], outputs: ['n'],
                attributes: { num_groups: { i: groups }, epsilon: { f: eps } } },
              { opType: 'Sigmoid', inputs: ['n'], outputs: ['s'] },
              { opType: 'Mul', inputs: ['n', 's'], outputs: ['y'] },
            ],
          }),
          feeds: { x },
        }),
        dispose: () => inp.dispose(),
      };
    },
  };
}

/** The probe used for "best observed GEMM GFLOP/s". */
export const gemmProbe = matmul(2048, 2048, 2048, 'matmul 2048³ (GEMM probe)');

export const cases: readonly Case[] = [
  conv3x3(320, 64),
  conv3x3(640, 32),
  conv3x3(1280, 16),
  matmul(4096, 320, 320),
  matmul(4096, 320, 2560),
  attention('self-attn 8h×4096×40', 8, 4096, 4096, 320),
  attention('cross-attn 8h×4096×77', 8, 4096, 77, 320),
  groupNormSilu(320, 64, 32),
];
