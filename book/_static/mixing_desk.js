/* The mixing desk (book/mixing_desk.md): decode latent codes and sound them in the browser, with no
   Python behind the page.

   Why a hand-written forward pass and not onnxruntime-web: the shipped models use the pooled decoder,
   sigmoid(MLP(concat(z_private, z_shared))) -> one frame of 128 mel values repeated over time
   (mvtutorial.model.MultiViewVAE.decode): three Linear layers (16 -> 256 -> 256 -> 128) with SiLU
   between them, 103,040 weights. Multiplying them out is 25 lines of JavaScript and costs nothing to
   load; onnxruntime-web's WebAssembly runtime alone is about 10 MB, twice the page's 5 MB budget. The
   weights are the checkpoints' float32 values, bit for bit (mvtutorial/studies/mixing_desk.py writes them, with the
   donors' codes and audio and the MI labels, into _static/mixing_desk_data.js when the book is built);
   the sums run in float64, as mvtutorial.studies.mixing_desk.decode_numpy does, and agree with PyTorch's float32
   decode to under 1e-6. The donors' log-mels (thumbnails, profiles) are computed here from their audio
   with the book's front end (mvtutorial.features.logmel): not shipping them saves 40 kB.

   Sound: the same inversion as mvtutorial.listening.to_audio (torchaudio's InverseMelScale and
   GriffinLim): [0, 1] -> dB with the peak at 0 and the floor at -80 -> mel power -> linear power by the
   minimum-norm least-squares solution of filterbank^T S = mel (here through a Cholesky factorisation of
   the 128 x 128 Gram matrix, in float64; torchaudio solves it by QR in float32) clipped at 0 ->
   magnitude -> 64 iterations of fast Griffin-Lim (momentum 0.99) over the clip's 32 frames (Hann window
   2048, hop 512, centred, reflect-padded, as torch.stft / torch.istft) -> peak-normalised. The one
   difference: Griffin-Lim's random starting phases come from a seeded generator of this file, not
   from torch's, so the waveform differs from the book's while its spectrum agrees. Measured by
   tests/test_mixing_desk.py: given the same magnitudes and starting phases, this Griffin-Lim is
   torchaudio's to 1e-14; given to_audio's own starting phases, the page's sound is to_audio's to 1e-2
   of the peak; with its own phases, the two sounds' average magnitude spectra correlate at 0.998 or
   more.

   Everything is exposed on window.mixingDesk for the tests (see the API at the end of Desk). */
(function () {
  "use strict";
  const FORMAT = 1;

  // ----------------------------------------------------------------------------------------------
  // Packed arrays (mvtutorial.studies.mixing_desk.pack): little-endian bytes in byte planes, deflated, in Z85
  // ----------------------------------------------------------------------------------------------
  const TYPES = { float32: Float32Array, int16: Int16Array, uint8: Uint8Array, int32: Int32Array };
  const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
  const Z85_VALUE = new Uint8Array(128).fill(255);
  for (let i = 0; i < 85; i++) Z85_VALUE[Z85.charCodeAt(i)] = i;

  function z85Bytes(text, nBytes) {  // 5 characters -> 4 bytes (big-endian), the padding dropped
    if (text.length % 5) throw new Error("Z85 text of " + text.length + " characters");
    const out = new Uint8Array(text.length / 5 * 4);
    for (let g = 0, o = 0; g < text.length; g += 5, o += 4) {
      let v = 0;
      for (let i = 0; i < 5; i++) {
        const d = Z85_VALUE[text.charCodeAt(g + i) & 127];
        if (d === 255) throw new Error("not a Z85 character: " + text[g + i]);
        v = v * 85 + d;
      }
      out[o] = (v / 16777216) & 255; out[o + 1] = (v >>> 16) & 255; out[o + 2] = (v >>> 8) & 255; out[o + 3] = v & 255;
    }
    return out.subarray(0, nBytes);
  }

  // A zlib stream (RFC 1950/1951) -> its bytes, synchronously, after zlib's puff.c (decoding one bit at
  // a time: about 20 ms for the whole file). Synchronous, so the desk is built before the page's load
  // event, and no DecompressionStream is needed (any browser since 2017 runs the page).
  const LBASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
  const LEXT = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
  const DBASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097,
                 6145, 8193, 12289, 16385, 24577];
  const DEXT = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
  const ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

  function huffman(lengths) {  // canonical code: how many codes of each length, symbols in code order
    const count = new Uint16Array(16), offs = new Uint16Array(16), symbol = new Uint16Array(lengths.length);
    for (const len of lengths) count[len]++;
    for (let len = 1; len < 15; len++) offs[len + 1] = offs[len] + count[len];
    lengths.forEach((len, s) => { if (len) symbol[offs[len]++] = s; });
    return { count, symbol };
  }

  function inflate(src) {
    if (src.length < 6 || (src[0] & 15) !== 8 || ((src[0] << 8) | src[1]) % 31 !== 0 || (src[1] & 32)) throw new Error("not a zlib stream");
    let pos = 2, bitbuf = 0, bitcnt = 0, out = new Uint8Array(4 * src.length + 1024), n = 0;
    const room = (k) => {
      if (n + k <= out.length) return;
      const grown = new Uint8Array(Math.max(2 * out.length, n + k));
      grown.set(out.subarray(0, n));
      out = grown;
    };
    const bits = (need) => {
      let val = bitbuf;
      while (bitcnt < need) {
        if (pos >= src.length) throw new Error("truncated zlib stream");
        val |= src[pos++] << bitcnt;
        bitcnt += 8;
      }
      bitbuf = val >>> need;
      bitcnt -= need;
      return val & ((1 << need) - 1);
    };
    const decode = (h) => {
      let code = 0, first = 0, index = 0;
      for (let len = 1; len <= 15; len++) {
        code |= bits(1);
        const count = h.count[len];
        if (code - count < first) return h.symbol[index + (code - first)];
        index += count; first = (first + count) << 1; code <<= 1;
      }
      throw new Error("bad Huffman code");
    };
    const codes = (lencode, distcode) => {
      for (;;) {
        let sym = decode(lencode);
        if (sym < 256) { room(1); out[n++] = sym; continue; }
        if (sym === 256) return;
        sym -= 257;
        if (sym >= 29) throw new Error("bad length code");
        const len = LBASE[sym] + bits(LEXT[sym]), ds = decode(distcode);
        if (ds >= 30) throw new Error("bad distance code");
        const dist = DBASE[ds] + bits(DEXT[ds]);
        if (dist > n) throw new Error("distance too far back");
        room(len);
        for (let i = 0; i < len; i++, n++) out[n] = out[n - dist];
      }
    };
    let last;
    do {
      last = bits(1);
      const type = bits(2);
      if (type === 0) {  // stored
        bitbuf = 0; bitcnt = 0;
        const len = src[pos] | (src[pos + 1] << 8), nlen = src[pos + 2] | (src[pos + 3] << 8);
        if (len !== (~nlen & 0xffff) || pos + 4 + len > src.length) throw new Error("bad stored block");
        room(len);
        out.set(src.subarray(pos + 4, pos + 4 + len), n);
        n += len; pos += 4 + len;
      } else if (type === 1) {  // fixed codes
        const lengths = new Uint8Array(288);
        lengths.fill(8, 0, 144); lengths.fill(9, 144, 256); lengths.fill(7, 256, 280); lengths.fill(8, 280, 288);
        codes(huffman(lengths), huffman(new Uint8Array(30).fill(5)));
      } else if (type === 2) {  // dynamic codes
        const nlen = bits(5) + 257, ndist = bits(5) + 1, ncode = bits(4) + 4, cl = new Uint8Array(19);
        for (let i = 0; i < ncode; i++) cl[ORDER[i]] = bits(3);
        const clcode = huffman(cl), lengths = new Uint8Array(nlen + ndist);
        for (let i = 0; i < nlen + ndist;) {
          const sym = decode(clcode);
          if (sym < 16) { lengths[i++] = sym; continue; }
          let len = 0, rep;
          if (sym === 16) { if (!i) throw new Error("repeat with no length"); len = lengths[i - 1]; rep = 3 + bits(2); }
          else rep = sym === 17 ? 3 + bits(3) : 11 + bits(7);
          if (i + rep > nlen + ndist) throw new Error("too many lengths");
          lengths.fill(len, i, i + rep); i += rep;
        }
        codes(huffman(lengths.subarray(0, nlen)), huffman(lengths.subarray(nlen)));
      } else throw new Error("bad block type");
    } while (!last);
    let a = 1, b = 0;  // Adler-32 of the output, against the stream's trailer
    for (let i = 0; i < n;) {
      for (const end = Math.min(n, i + 3800); i < end; i++) { a += out[i]; b += a; }
      a %= 65521; b %= 65521;
    }
    const stored = ((src[pos] << 24) | (src[pos + 1] << 16) | (src[pos + 2] << 8) | src[pos + 3]) >>> 0;
    if (((b << 16) | a) >>> 0 !== stored) throw new Error("zlib checksum mismatch");
    return out.subarray(0, n);
  }

  function unpack(entry) {
    const Type = TYPES[entry.dtype];
    if (!Type) throw new Error("unknown dtype " + entry.dtype);
    const n = entry.shape.reduce((a, b) => a * b, 1), size = Type.BYTES_PER_ELEMENT;
    const planes = inflate(z85Bytes(entry.z85, entry.bytes));
    if (planes.length !== n * size) throw new Error("packed array of " + planes.length + " bytes, expected " + n * size);
    const raw = new Uint8Array(n * size);
    for (let b = 0; b < size; b++) {
      const off = b * n;
      for (let i = 0; i < n; i++) raw[i * size + b] = planes[off + i];
    }
    if (LITTLE_ENDIAN || size === 1) return new Type(raw.buffer);
    const view = new DataView(raw.buffer), out = new Type(n);  // a big-endian machine: read each value
    const get = { 2: (i) => view.getInt16(i * 2, true), 4: entry.dtype === "float32" ? (i) => view.getFloat32(i * 4, true) : (i) => view.getInt32(i * 4, true) }[size];
    for (let i = 0; i < n; i++) out[i] = get(i);
    return out;
  }

  // ----------------------------------------------------------------------------------------------
  // The decoder: Linear layers, SiLU between them, a sigmoid after the last (float64 sums)
  // ----------------------------------------------------------------------------------------------
  function decode(layers, z) {
    let h = Float64Array.from(z);
    for (const layer of layers) {
      const [nOut, nIn] = layer.shape, w = layer.weight, b = layer.bias;
      if (h.length !== nIn) throw new Error("code of length " + h.length + ", the layer takes " + nIn);
      const out = new Float64Array(nOut);
      for (let j = 0; j < nOut; j++) {
        let s = 0;
        const row = j * nIn;
        for (let i = 0; i < nIn; i++) s += w[row + i] * h[i];
        s += b[j];
        out[j] = layer.activation === "silu" ? s / (1 + Math.exp(-s)) : layer.activation === "sigmoid" ? 1 / (1 + Math.exp(-s)) : s;
      }
      h = out;
    }
    return h;
  }

  // ----------------------------------------------------------------------------------------------
  // FFT (radix 2, in place), STFT / inverse STFT as torch.stft / torch.istft (center, reflect)
  // ----------------------------------------------------------------------------------------------
  function makeFFT(n) {
    const bits = Math.round(Math.log2(n));
    if (1 << bits !== n) throw new Error("FFT size must be a power of 2");
    const rev = new Uint32Array(n), cos = new Float64Array(n / 2), sin = new Float64Array(n / 2);
    for (let i = 0; i < n; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
      rev[i] = r;
    }
    for (let i = 0; i < n / 2; i++) { cos[i] = Math.cos(2 * Math.PI * i / n); sin[i] = Math.sin(2 * Math.PI * i / n); }
    return function transform(re, im, inverse) {  // forward: sum x e^{-2 pi i k t / n}; inverse: e^{+...}, unscaled
      for (let i = 0; i < n; i++) {
        const j = rev[i];
        if (j > i) { let t = re[i]; re[i] = re[j]; re[j] = t; t = im[i]; im[i] = im[j]; im[j] = t; }
      }
      for (let size = 2; size <= n; size <<= 1) {
        const half = size >> 1, step = n / size;
        for (let start = 0; start < n; start += size) {
          for (let k = 0; k < half; k++) {
            const wr = cos[k * step], wi = inverse ? sin[k * step] : -sin[k * step];
            const a = start + k, b = a + half;
            const tr = re[b] * wr - im[b] * wi, ti = re[b] * wi + im[b] * wr;
            re[b] = re[a] - tr; im[b] = im[a] - ti; re[a] += tr; im[a] += ti;
          }
        }
      }
    };
  }

  function makeSpectral(nFft, hop) {
    const fft = makeFFT(nFft), nBins = nFft / 2 + 1, pad = nFft / 2;
    const window = new Float64Array(nFft);  // torch.hann_window (periodic)
    for (let i = 0; i < nFft; i++) window[i] = 0.5 - 0.5 * Math.cos(2 * Math.PI * i / nFft);
    const re = new Float64Array(nFft), im = new Float64Array(nFft);

    // Complex spectrogram (re, im: frames x bins) of x, as torch.stft(center=True, pad_mode="reflect").
    function stft(x, outRe, outIm) {
      const n = x.length, frames = 1 + Math.floor(n / hop);
      const at = (j) => { let i = j - pad; if (i < 0) i = -i; if (i >= n) i = 2 * (n - 1) - i; return x[i]; };
      for (let t = 0; t < frames; t++) {
        for (let k = 0; k < nFft; k++) { re[k] = at(t * hop + k) * window[k]; im[k] = 0; }
        fft(re, im, false);
        const off = t * nBins;
        for (let k = 0; k < nBins; k++) { outRe[off + k] = re[k]; outIm[off + k] = im[k]; }
      }
      return frames;
    }

    // Signal of (frames - 1) * hop samples from a one-sided spectrogram, as torch.istft(center=True):
    // windowed overlap-add of each frame's inverse real FFT, divided by the summed squared window.
    function istft(specRe, specIm, frames) {
      const total = nFft + hop * (frames - 1), y = new Float64Array(total), env = new Float64Array(total);
      for (let t = 0; t < frames; t++) {
        const off = t * nBins;
        re[0] = specRe[off]; im[0] = 0;  // irfft ignores the imaginary parts of DC and Nyquist
        re[nFft / 2] = specRe[off + nFft / 2]; im[nFft / 2] = 0;
        for (let k = 1; k < nFft / 2; k++) {
          re[k] = specRe[off + k]; im[k] = specIm[off + k];
          re[nFft - k] = specRe[off + k]; im[nFft - k] = -specIm[off + k];
        }
        fft(re, im, true);
        for (let k = 0; k < nFft; k++) {
          y[t * hop + k] += re[k] / nFft * window[k];
          env[t * hop + k] += window[k] * window[k];
        }
      }
      const out = new Float64Array(total - 2 * pad);
      for (let i = 0; i < out.length; i++) out[i] = y[i + pad] / (env[i + pad] > 1e-11 ? env[i + pad] : 1);
      return out;
    }
    return { stft, istft, nBins, hop, nFft };
  }

  // A small seeded generator (mulberry32) for Griffin-Lim's initial phases.
  function mulberry32(seed) {
    let a = seed >>> 0;
    return function () {
      a = (a + 0x6D2B79F5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  // Fast Griffin-Lim as torchaudio.functional.griffinlim: magnitude (frames x bins) -> signal.
  // init "random": real and imaginary parts uniform in [0, 1), as torch.rand of a complex tensor;
  // "ones": every phase 0 (torchaudio's rand_init=False); {re, im}: these starting values (frames x bins).
  function griffinLim(spectral, magnitude, frames, opts) {
    const nIter = opts.nIter, momentum = opts.momentum / (1 + opts.momentum), nBins = spectral.nBins, size = frames * nBins;
    const angRe = new Float64Array(size), angIm = new Float64Array(size);
    if (opts.init === "ones") angRe.fill(1);
    else if (opts.init && opts.init.re) { angRe.set(opts.init.re); angIm.set(opts.init.im); }  // given phases (frames x bins)
    else {
      const rand = mulberry32(opts.seed || 0);
      for (let i = 0; i < size; i++) { angRe[i] = rand(); angIm[i] = rand(); }
    }
    const specRe = new Float64Array(size), specIm = new Float64Array(size);
    const rebRe = new Float64Array(size), rebIm = new Float64Array(size);
    const prevRe = new Float64Array(size), prevIm = new Float64Array(size);
    const apply = () => { for (let i = 0; i < size; i++) { specRe[i] = magnitude[i] * angRe[i]; specIm[i] = magnitude[i] * angIm[i]; } };
    for (let it = 0; it < nIter; it++) {
      apply();
      const inverse = spectral.istft(specRe, specIm, frames);
      spectral.stft(inverse, rebRe, rebIm);
      for (let i = 0; i < size; i++) {
        const r = rebRe[i] - momentum * prevRe[i], m = rebIm[i] - momentum * prevIm[i];
        const norm = Math.sqrt(r * r + m * m) + 1e-16;
        angRe[i] = r / norm; angIm[i] = m / norm;
        prevRe[i] = rebRe[i]; prevIm[i] = rebIm[i];
      }
    }
    apply();
    return spectral.istft(specRe, specIm, frames);
  }

  // The book's front end (mvtutorial.features.logmel): |STFT|^2 -> mel power -> dB, floor at the peak
  // minus topDb -> min-max to [0, 1]. Returns (nMels x frames), row-major.
  function makeLogmel(spectral, fb, nFreq, nMels, topDb) {
    const bands = [];  // per band: the FFT bins it weighs, and their weights
    for (let m = 0; m < nMels; m++) {
      const ks = [], ws = [];
      for (let k = 0; k < nFreq; k++) if (fb[k * nMels + m] !== 0) { ks.push(k); ws.push(fb[k * nMels + m]); }
      bands.push([ks, ws]);
    }
    return function logmel(x) {
      const n = 1 + Math.floor(x.length / spectral.hop), re = new Float64Array(n * nFreq), im = new Float64Array(n * nFreq);
      spectral.stft(x, re, im);
      const db = new Float64Array(nMels * n);
      for (let t = 0; t < n; t++) {
        for (let m = 0; m < nMels; m++) {
          const [ks, ws] = bands[m];
          let s = 0;
          for (let j = 0; j < ks.length; j++) { const i = t * nFreq + ks[j]; s += ws[j] * (re[i] * re[i] + im[i] * im[i]); }
          db[m * n + t] = 10 * Math.log10(Math.max(s, 1e-10));
        }
      }
      let peak = -Infinity, low = Infinity;
      for (const v of db) peak = Math.max(peak, v);
      for (let i = 0; i < db.length; i++) { db[i] = Math.max(db[i], peak - topDb); low = Math.min(low, db[i]); }
      const range = Math.max(peak - low, 1e-6);
      for (let i = 0; i < db.length; i++) db[i] = (db[i] - low) / range;
      return db;
    };
  }

  // ----------------------------------------------------------------------------------------------
  // Mel inversion: S = relu(F (F^T F)^{-1} M), the minimum-norm least-squares solution
  // ----------------------------------------------------------------------------------------------
  function makeMelInverse(fb, nFreq, nMels) {
    const gram = new Float64Array(nMels * nMels);
    const rows = [];  // per frequency bin: the bands it feeds and their weights
    for (let k = 0; k < nFreq; k++) {
      const idx = [], val = [];
      for (let m = 0; m < nMels; m++) { const v = fb[k * nMels + m]; if (v !== 0) { idx.push(m); val.push(v); } }
      rows.push([idx, val]);
      for (let a = 0; a < idx.length; a++) for (let b = 0; b < idx.length; b++) gram[idx[a] * nMels + idx[b]] += val[a] * val[b];
    }
    const L = new Float64Array(nMels * nMels);  // Cholesky factor: gram = L L^T
    for (let i = 0; i < nMels; i++) {
      for (let j = 0; j <= i; j++) {
        let s = gram[i * nMels + j];
        for (let k = 0; k < j; k++) s -= L[i * nMels + k] * L[j * nMels + k];
        L[i * nMels + j] = i === j ? Math.sqrt(s) : s / L[j * nMels + j];
      }
    }
    return function melToLinear(melPower) {  // (nMels) -> (nFreq) linear power
      const y = new Float64Array(nMels);
      for (let i = 0; i < nMels; i++) {
        let s = melPower[i];
        for (let k = 0; k < i; k++) s -= L[i * nMels + k] * y[k];
        y[i] = s / L[i * nMels + i];
      }
      for (let i = nMels - 1; i >= 0; i--) {
        let s = y[i];
        for (let k = i + 1; k < nMels; k++) s -= L[k * nMels + i] * y[k];
        y[i] = s / L[i * nMels + i];
      }
      const out = new Float64Array(nFreq);
      for (let k = 0; k < nFreq; k++) {
        const [idx, val] = rows[k];
        let s = 0;
        for (let a = 0; a < idx.length; a++) s += val[a] * y[idx[a]];
        out[k] = s > 0 ? s : 0;
      }
      return out;
    };
  }

  // ----------------------------------------------------------------------------------------------
  // Drawing
  // ----------------------------------------------------------------------------------------------
  // Magma (matplotlib's, as the book's thumbnails), a degree-6 polynomial fit per channel.
  const MAGMA = [[-0.002136485053939582, -0.000749655052795221, -0.005386127855323933],
    [0.2516605407371642, 0.6775232436837668, 2.494026599312351], [8.353717279216625, -3.577719514958484, 0.3144679030132573],
    [-27.66873308576866, 14.26473078096533, -13.64921318813922], [52.17613981234068, -27.94360607168351, 12.94416944238394],
    [-50.76852536473588, 29.04658282127291, 4.23415299384598], [18.65570506591883, -11.48977351997711, -5.601961508734096]];
  function magma(t) {
    t = Math.min(1, Math.max(0, t));
    const rgb = [0, 0, 0];
    for (let c = 0; c < 3; c++) {
      let v = 0;
      for (let d = 6; d >= 0; d--) v = v * t + MAGMA[d][c];
      rgb[c] = Math.round(255 * Math.min(1, Math.max(0, v)));
    }
    return rgb;
  }

  // Log-mel (value(m, t) in [0, 1]) onto a canvas: time left to right, low bands at the bottom.
  function drawLogmel(canvas, nMels, frames, value) {
    const img = new ImageData(frames, nMels);
    for (let m = 0; m < nMels; m++) {
      for (let t = 0; t < frames; t++) {
        const [r, g, b] = magma(value(m, t)), p = 4 * ((nMels - 1 - m) * frames + t);
        img.data[p] = r; img.data[p + 1] = g; img.data[p + 2] = b; img.data[p + 3] = 255;
      }
    }
    const off = document.createElement("canvas");
    off.width = frames; off.height = nMels;
    off.getContext("2d").putImageData(img, 0, 0);
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(off, 0, 0, canvas.width, canvas.height);
  }

  // Level over mel bands: the decoded frame (solid) and each donor's time-averaged log-mel (dashed).
  function drawProfile(canvas, lines) {
    const scale = window.devicePixelRatio || 1;  // draw at the size shown, so the text is not stretched
    if (canvas.clientWidth > 0) { canvas.width = Math.round(canvas.clientWidth * scale); canvas.height = Math.round(canvas.clientHeight * scale); }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(scale, 0, 0, scale, 0, 0);
    const w = canvas.width / scale, h = canvas.height / scale, padL = 6, padB = 16;
    const style = getComputedStyle(canvas);
    ctx.clearRect(0, 0, w, h);
    ctx.strokeStyle = style.getPropertyValue("--md-grid").trim() || "#ccc";
    ctx.lineWidth = 1;
    ctx.strokeRect(padL + 0.5, 0.5, w - padL - 1, h - padB - 1);
    ctx.fillStyle = style.color || "#444";
    ctx.font = "11px sans-serif";
    ctx.fillText("mel band: low \u2192 high (0\u20138 kHz)", padL + 4, h - 3);
    for (const line of lines) {
      const n = line.values.length;
      ctx.beginPath();
      ctx.setLineDash(line.dash || []);
      ctx.strokeStyle = line.color;
      ctx.lineWidth = line.width || 1.5;
      for (let i = 0; i < n; i++) {
        const x = padL + (i + 0.5) / n * (w - padL), y = (1 - line.values[i]) * (h - padB - 4) + 2;
        if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      }
      ctx.stroke();
    }
    ctx.setLineDash([]);
  }

  function wavUrl(samples, rate) {  // Int16Array -> object URL of a 16-bit mono WAV
    const n = samples.length, buf = new ArrayBuffer(44 + 2 * n), v = new DataView(buf);
    const text = (o, s) => { for (let i = 0; i < s.length; i++) v.setUint8(o + i, s.charCodeAt(i)); };
    text(0, "RIFF"); v.setUint32(4, 36 + 2 * n, true); text(8, "WAVE"); text(12, "fmt ");
    v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true); v.setUint32(24, rate, true);
    v.setUint32(28, 2 * rate, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true); text(36, "data");
    v.setUint32(40, 2 * n, true);
    for (let i = 0; i < n; i++) v.setInt16(44 + 2 * i, samples[i], true);
    return URL.createObjectURL(new Blob([buf], { type: "audio/wav" }));
  }

  const CSS = `
.md-desk { --md-accent: #1f77b4; --md-pitch: #d62728; --md-timbre: #1f77b4; --md-grid: #c8c8c8;
  border: 1px solid var(--pst-color-border, #ddd); border-radius: 6px; padding: 0.75rem; margin: 1rem 0;
  font-size: 0.9rem; max-width: 100%; box-sizing: border-box; }
.md-desk * { box-sizing: border-box; }
.md-desk h4 { font-size: 0.95rem; margin: 0.6rem 0 0.3rem; }
.md-choices { display: flex; flex-wrap: wrap; gap: 0.5rem 1.5rem; align-items: center; }
.md-choices .md-group { display: flex; flex-wrap: wrap; gap: 0.25rem; align-items: center; }
.md-desk button { font: inherit; font-size: 0.85rem; padding: 0.15rem 0.55rem; border-radius: 4px; cursor: pointer;
  border: 1px solid var(--pst-color-border, #bbb); background: var(--pst-color-surface, #f5f5f5); color: inherit; }
.md-desk button[aria-pressed="true"] { background: var(--md-accent); border-color: var(--md-accent); color: #fff; }
.md-desk button.md-pitch[aria-pressed="true"] { background: var(--md-pitch); border-color: var(--md-pitch); }
.md-donors { display: grid; grid-template-columns: repeat(auto-fill, minmax(130px, 1fr)); gap: 0.5rem; }
.md-card { border: 1px solid var(--pst-color-border, #ddd); border-radius: 4px; padding: 0.3rem; text-align: center; min-width: 0; }
.md-card.md-is-timbre { box-shadow: inset 0 0 0 2px var(--md-timbre); }
.md-card.md-is-pitch { box-shadow: inset 0 0 0 2px var(--md-pitch); }
.md-card.md-is-timbre.md-is-pitch { box-shadow: inset 0 0 0 2px var(--md-timbre), inset 0 0 0 4px var(--md-pitch); }
.md-card canvas { width: 100%; height: 44px; display: block; image-rendering: pixelated; }
.md-card .md-label { font-size: 0.8rem; margin: 0.15rem 0; overflow-wrap: anywhere; }
.md-card audio { width: 100%; height: 28px; display: block; margin: 0.15rem 0; }
.md-card .md-roles { display: flex; gap: 0.25rem; justify-content: center; }
.md-out { display: flex; flex-wrap: wrap; gap: 0.75rem; align-items: flex-start; margin-top: 0.5rem; }
.md-out figure { margin: 0; flex: 1 1 220px; min-width: 0; }
.md-out canvas { width: 100%; display: block; }
.md-out canvas.md-spec { height: 150px; image-rendering: pixelated; }
.md-out canvas.md-profile { height: 150px; }
.md-out figcaption { font-size: 0.78rem; opacity: 0.85; }
.md-actions { display: flex; flex-wrap: wrap; gap: 0.4rem; align-items: center; margin: 0.5rem 0; }
.md-status { font-size: 0.8rem; opacity: 0.85; }
.md-sliders { display: grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap: 0.25rem 1.25rem; }
.md-dim { display: grid; grid-template-columns: 2.2rem 3.6rem minmax(60px, 1fr) 3.3rem; gap: 0.3rem; align-items: center; }
.md-dim input[type=range] { width: 100%; min-width: 0; }
.md-dim output { font-variant-numeric: tabular-nums; text-align: right; font-size: 0.8rem; }
.md-dim .md-name { font-weight: 600; font-size: 0.8rem; }
.md-tag { font-size: 0.7rem; border-radius: 3px; padding: 0 0.25rem; text-align: center; white-space: nowrap; }
.md-tag.md-timbre { background: var(--md-timbre); color: #fff; }
.md-tag.md-pitch { background: var(--md-pitch); color: #fff; }
.md-mi { grid-column: 2 / 5; font-size: 0.68rem; opacity: 0.75; margin-top: -0.3rem; }
.md-error { color: #b00; }
`;

  // ----------------------------------------------------------------------------------------------
  // The desk
  // ----------------------------------------------------------------------------------------------
  const el = (tag, attrs, children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v; else if (k === "class") node.className = v; else node.setAttribute(k, v);
    }
    for (const c of children || []) node.append(c);
    return node;
  };

  function loadData(raw) {
    if (!raw) throw new Error("the desk's data file (_static/mixing_desk_data.js) did not load; build the book with python -m tools.book");
    if (raw.format !== FORMAT) throw new Error("data file format " + raw.format + ", this page reads " + FORMAT);
    const f = raw.features, nFreq = f.n_fft / 2 + 1;
    const data = { raw, features: f, gl: raw.griffin_lim, nFreq, dataSets: {} };
    const fb = unpack(raw.mel_filterbank);
    data.melToLinear = makeMelInverse(fb, nFreq, f.n_mels);
    data.spectral = makeSpectral(f.n_fft, f.hop_length);
    data.logmel = makeLogmel(data.spectral, fb, nFreq, f.n_mels, f.top_db);
    for (const ds of raw.data_sets) {
      const audio = unpack(ds.audio), [n, samples] = ds.audio.shape, logmels = [];
      for (let i = 0; i < n; i++) logmels.push(data.logmel(Float64Array.from(audio.subarray(i * samples, (i + 1) * samples), (v) => v / 32767)));
      const entry = { key: ds.key, title: ds.title, donors: ds.donors, default: ds.default, sampleRate: ds.sample_rate,
                      audio, samples, logmels, models: {} };
      for (const m of ds.models) {
        const layers = [];
        for (const l of m.layers) layers.push({ weight: unpack(l.weight), bias: unpack(l.bias), shape: l.weight.shape, activation: l.activation });
        entry.models[m.key] = { key: m.key, title: m.title, checkpoint: m.checkpoint, layers, privateDim: m.private_dim, sharedDim: m.shared_dim,
                                private: unpack(m.codes.private), shared: unpack(m.codes.shared), range: m.range, dims: m.dims };
      }
      data.dataSets[ds.key] = entry;
    }
    return data;
  }

  function Desk(root, data) {
    const f = data.features, nMels = f.n_mels, frames = f.n_frames, topDb = f.top_db;
    const state = { dataSet: null, model: null, timbre: 0, pitch: 0, z: null };
    let audioCache = null, audioTimer = null, audioContext = null, urls = [], lastPlayed = null;

    // -- what the page computes --------------------------------------------------------------------
    const ds = () => data.dataSets[state.dataSet];
    const md = () => ds().models[state.model];
    const donorCode = (donor, subspace) => {
      const m = md(), dim = subspace === "private" ? m.privateDim : m.sharedDim, codes = m[subspace];
      return Array.from(codes.subarray(donor * dim, (donor + 1) * dim));
    };
    const donorsCode = () => Float64Array.from([...donorCode(state.pitch, "private"), ...donorCode(state.timbre, "shared")]);
    const decodeCode = (z) => decode(md().layers, z);
    const decoded = () => decodeCode(state.z);
    function logmelOf(frame) {  // the pooled decoder's frame repeated over the clip's frames: (nMels x frames), row-major
      const out = new Float64Array(nMels * frames);
      for (let m = 0; m < nMels; m++) out.fill(frame[m], m * frames, (m + 1) * frames);
      return out;
    }
    function linearMagnitude(frame) {  // one log-mel frame in [0, 1] -> linear magnitude (nFreq)
      const mel = new Float64Array(nMels);
      for (let m = 0; m < nMels; m++) mel[m] = Math.pow(10, (frame[m] - 1) * topDb / 10);
      const power = data.melToLinear(mel);
      for (let k = 0; k < power.length; k++) power[k] = Math.sqrt(power[k]);
      return power;
    }
    function audioOf(logmel, nFrames, opts) {  // (nMels x nFrames) log-mel -> peak-normalised Float32Array
      opts = Object.assign({ nIter: data.gl.n_iter, momentum: data.gl.momentum, init: "random", seed: 0 }, opts || {});
      const nBins = data.nFreq, mag = new Float64Array(nFrames * nBins), col = new Float64Array(nMels);
      for (let t = 0; t < nFrames; t++) {
        for (let m = 0; m < nMels; m++) col[m] = logmel[m * nFrames + t];
        mag.set(linearMagnitude(col), t * nBins);
      }
      const y = griffinLim(data.spectral, mag, nFrames, opts);
      let peak = 0;
      for (let i = 0; i < y.length; i++) peak = Math.max(peak, Math.abs(y[i]));
      peak = Math.max(peak, 1e-8);
      const out = new Float32Array(y.length);
      for (let i = 0; i < y.length; i++) out[i] = y[i] / peak;
      return out;
    }
    function currentAudio() {
      const key = state.dataSet + "/" + state.model + "/" + Array.from(state.z).join(",");
      if (!audioCache || audioCache.key !== key) audioCache = { key, audio: audioOf(logmelOf(decoded()), frames) };
      return audioCache.audio;
    }

    // -- the page ---------------------------------------------------------------------------------
    root.textContent = "";
    root.classList.add("md-desk");
    const dsGroup = el("div", { class: "md-group", role: "group", "aria-label": "data set" }, [el("span", { text: "Data:" })]);
    const modelGroup = el("div", { class: "md-group", role: "group", "aria-label": "model" }, [el("span", { text: "Model:" })]);
    const donorGrid = el("div", { class: "md-donors" });
    const spec = el("canvas", { class: "md-spec", width: "320", height: "160", role: "img", "aria-label": "decoded log-mel spectrogram" });
    const profile = el("canvas", { class: "md-profile", width: "420", height: "160", role: "img", "aria-label": "decoded level per mel band" });
    const specCaption = el("figcaption");
    const play = el("button", { type: "button", class: "md-play", text: "\u25B6 Play" });
    const swapButton = el("button", { type: "button", class: "md-swap", text: "Swap donors" });
    const resetButton = el("button", { type: "button", class: "md-reset", text: "Reset" });
    const status = el("span", { class: "md-status", "aria-live": "polite" });
    const sliders = el("div", { class: "md-sliders" });
    root.append(
      el("div", { class: "md-choices" }, [dsGroup, modelGroup]),
      el("h4", { text: "Donors: pick the clip whose timbre (shared code) and whose pitch (private code) the sliders start from" }),
      donorGrid,
      el("div", { class: "md-out" }, [
        el("figure", {}, [spec, specCaption]),
        el("figure", {}, [profile, el("figcaption", { text: "Decoded level per mel band (solid) beside the timbre donor (blue, dashed) and the pitch donor (red, dotted), each averaged over time." })]),
      ]),
      el("div", { class: "md-actions" }, [play, swapButton, resetButton, status]),
      el("h4", { text: "Latent dimensions (start: the donors' codes)" }),
      sliders,
    );
    for (const key of Object.keys(data.dataSets)) {
      const b = el("button", { type: "button", "data-key": key, "aria-pressed": "false", text: data.dataSets[key].title });
      b.addEventListener("click", () => select(key, state.model));
      dsGroup.append(b);
    }
    const firstModels = data.dataSets[Object.keys(data.dataSets)[0]].models;
    for (const key of Object.keys(firstModels)) {
      const b = el("button", { type: "button", "data-key": key, "aria-pressed": "false", text: firstModels[key].title });
      b.addEventListener("click", () => select(state.dataSet, key));
      modelGroup.append(b);
    }

    function buildDonors() {
      urls.forEach((u) => URL.revokeObjectURL(u));
      urls = [];
      donorGrid.textContent = "";
      const d = ds(), samples = d.samples;
      d.donors.forEach((donor, i) => {
        const thumb = el("canvas", { width: "64", height: "44", role: "img", "aria-label": "log-mel of " + donor.label });
        const lm = d.logmels[i], nf = lm.length / nMels;
        drawLogmel(thumb, nMels, nf, (m, t) => lm[m * nf + t]);
        const url = wavUrl(d.audio.subarray(i * samples, (i + 1) * samples), d.sampleRate);
        urls.push(url);
        const timbre = el("button", { type: "button", class: "md-timbre", "data-role": "timbre", "aria-pressed": "false", title: "take the shared (timbre) code from this clip", text: "timbre" });
        const pitch = el("button", { type: "button", class: "md-pitch", "data-role": "pitch", "aria-pressed": "false", title: "take the private (pitch) code from this clip", text: "pitch" });
        timbre.addEventListener("click", () => setDonor("timbre", i));
        pitch.addEventListener("click", () => setDonor("pitch", i));
        donorGrid.append(el("div", { class: "md-card", "data-index": String(i) }, [
          thumb, el("div", { class: "md-label", text: donor.label }),
          el("audio", { controls: "", preload: "auto", src: url, "data-seconds": String(samples / d.sampleRate) }),
          el("div", { class: "md-roles" }, [timbre, pitch])]));
      });
    }

    const inputs = [], short = (v) => (Math.abs(v) >= 1 ? v.toFixed(1) : v.toFixed(2));
    function buildSliders() {
      sliders.textContent = "";
      inputs.length = 0;
      const m = md(), columns = [
        el("div", {}, [el("h4", { text: "Private code (starts at the pitch donor's)" })]),
        el("div", {}, [el("h4", { text: "Shared code (starts at the timbre donor's)" })])];
      m.dims.forEach((dim, i) => {
        const lo = m.range.low[i], hi = m.range.high[i];
        const input = el("input", { type: "range", min: String(lo), max: String(hi), step: "any",
                                    "aria-label": dim.subspace + " dimension " + dim.dim, "data-index": String(i) });
        const out = el("output", {});
        input.addEventListener("input", () => setDim(i, parseFloat(input.value), true));
        const tag = dim.label ? el("span", { class: "md-tag md-" + dim.label, text: dim.label }) : el("span", { class: "md-tag", text: "" });
        const mi = Object.entries(dim.mi).map(([k, v]) => k + " " + v.toFixed(2)).join(" \u00b7 ");
        const row = el("div", { class: "md-dim", title: "k-NN mutual information with each factor (nats, shipped result): " + mi }, [
          el("span", { class: "md-name", text: (dim.subspace === "private" ? "p" : "s") + dim.dim }), tag, input, out,
          el("span", { class: "md-mi", text: "MI " + mi + " nats \u00b7 range " + short(lo) + " to " + short(hi) })]);
        columns[dim.subspace === "private" ? 0 : 1].append(row);
        inputs.push({ input, out });
      });
      sliders.append(...columns);
    }

    function showSliders() {
      inputs.forEach(({ input, out }, i) => { input.value = String(state.z[i]); out.textContent = state.z[i].toFixed(2); });
    }

    function redraw() {
      const frame = decoded(), d = ds();
      drawLogmel(spec, nMels, frames, (m) => frame[m]);
      const mean = (i) => {
        const lm = d.logmels[i], nf = lm.length / nMels, v = new Float64Array(nMels);
        for (let m = 0; m < nMels; m++) { let s = 0; for (let t = 0; t < nf; t++) s += lm[m * nf + t]; v[m] = s / nf; }
        return v;
      };
      const style = getComputedStyle(root);
      drawProfile(profile, [
        { values: mean(state.timbre), color: style.getPropertyValue("--md-timbre").trim() || "#1f77b4", dash: [5, 3], width: 1 },
        { values: mean(state.pitch), color: style.getPropertyValue("--md-pitch").trim() || "#d62728", dash: [2, 2], width: 1 },
        { values: frame, color: getComputedStyle(profile).color || "#222", width: 2 }]);
      const start = donorsCode(), edited = state.z.some((v, i) => v !== start[i]);
      specCaption.textContent = "Decoded log-mel (" + md().title.toLowerCase() + " model, " + d.title.toLowerCase() + "): pitch code from "
        + d.donors[state.pitch].label + ", timbre code from " + d.donors[state.timbre].label + (edited ? ", edited with the sliders" : "")
        + ". The pooled decoder predicts one frame, repeated over the clip's " + frames + " frames; low bands at the bottom.";
      for (const card of donorGrid.children) {
        const i = Number(card.dataset.index);
        card.classList.toggle("md-is-timbre", i === state.timbre);
        card.classList.toggle("md-is-pitch", i === state.pitch);
        card.querySelector("[data-role=timbre]").setAttribute("aria-pressed", String(i === state.timbre));
        card.querySelector("[data-role=pitch]").setAttribute("aria-pressed", String(i === state.pitch));
      }
      for (const b of dsGroup.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.key === state.dataSet));
      for (const b of modelGroup.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.key === state.model));
      scheduleAudio();
    }

    function scheduleAudio() {  // Griffin-Lim once the sliders rest, so that Play is instant
      clearTimeout(audioTimer);
      status.textContent = "";
      audioTimer = setTimeout(() => { currentAudio(); }, 250);
    }

    // -- actions ----------------------------------------------------------------------------------
    function select(dataSet, model) {
      const changed = dataSet !== state.dataSet;
      state.dataSet = dataSet;
      state.model = model in ds().models ? model : Object.keys(ds().models)[0];
      if (changed) { state.timbre = ds().default.timbre; state.pitch = ds().default.pitch; buildDonors(); }
      buildSliders();
      reset();
    }
    function setDonor(role, index) {
      if (!(index >= 0 && index < ds().donors.length)) throw new Error("no donor " + index);
      state[role === "timbre" ? "timbre" : "pitch"] = index;
      reset();
    }
    function setDim(i, value, fromSlider) {
      if (!(i >= 0 && i < state.z.length) || !Number.isFinite(value)) throw new Error("bad dimension or value");
      state.z[i] = value;
      if (!fromSlider) inputs[i].input.value = String(value);
      inputs[i].out.textContent = value.toFixed(2);
      redraw();
    }
    function reset() { state.z = donorsCode(); showSliders(); redraw(); }
    function swap() { [state.timbre, state.pitch] = [state.pitch, state.timbre]; reset(); }
    async function playSound() {
      const AC = window.AudioContext || window.webkitAudioContext;
      if (!AC) { status.textContent = "this browser has no Web Audio API"; return null; }
      status.textContent = "computing\u2026";
      await new Promise((r) => setTimeout(r, 0));  // let the status show
      const audio = currentAudio();
      audioContext = audioContext || new AC();
      if (audioContext.state === "suspended") audioContext.resume().catch(() => {});  // (plays once resumed; never blocks)
      const buffer = audioContext.createBuffer(1, audio.length, ds().sampleRate);
      buffer.copyToChannel(audio, 0);
      const source = audioContext.createBufferSource(), gain = audioContext.createGain();
      gain.gain.value = 0.5;
      source.buffer = buffer;
      source.connect(gain).connect(audioContext.destination);
      source.start();
      const data0 = buffer.getChannelData(0);
      let peak = 0, sum = 0, finite = true;
      for (let i = 0; i < data0.length; i++) { const v = data0[i]; finite = finite && Number.isFinite(v); peak = Math.max(peak, Math.abs(v)); sum += v * v; }
      lastPlayed = { length: buffer.length, sampleRate: buffer.sampleRate, duration: buffer.duration, finite, peak, rms: Math.sqrt(sum / data0.length),
                     state: audioContext.state, code: Array.from(state.z) };
      status.textContent = "playing " + (audio.length / ds().sampleRate).toFixed(2) + " s (Griffin-Lim, " + data.gl.n_iter + " iterations)";
      return buffer;
    }
    play.addEventListener("click", () => { playSound(); });
    swapButton.addEventListener("click", swap);
    resetButton.addEventListener("click", reset);

    const first = Object.keys(data.dataSets)[0];
    select(first, Object.keys(data.dataSets[first].models)[0]);

    return {
      state, select, setDonor, setDim, swap, reset, play: playSound,
      code: () => Array.from(state.z), donorsCode: () => Array.from(donorsCode()),
      decode: (z) => Array.from(decodeCode(z)), decoded: () => Array.from(decoded()),
      logmel: () => Array.from(logmelOf(decoded())), audio: () => Array.from(currentAudio()),
      audioOf: (logmel, nFrames, opts) => Array.from(audioOf(Float64Array.from(logmel), nFrames, opts)),
      melToLinear: (melPower) => Array.from(data.melToLinear(Float64Array.from(melPower))),
      griffinLim: (magnitude, nFrames, opts) => Array.from(griffinLim(data.spectral, Float64Array.from(magnitude), nFrames,
        Object.assign({ nIter: data.gl.n_iter, momentum: data.gl.momentum, init: "random", seed: 0 }, opts || {}))),
      spectrogramPng: () => spec.toDataURL("image/png"), lastPlayed: () => lastPlayed,
      donorLogmel: (i) => Array.from(ds().logmels[i]), logmelOfAudio: (x) => Array.from(data.logmel(Float64Array.from(x))),
      info: () => ({ dataSet: state.dataSet, model: state.model, timbre: state.timbre, pitch: state.pitch,
                     checkpoint: md().checkpoint, dims: md().dims, range: md().range, donors: ds().donors.map((d) => d.label),
                     frames, sampleRate: ds().sampleRate }),
    };
  }

  function start() {
    const root = document.getElementById("mixing-desk");
    if (!root) return;
    if (!document.getElementById("md-style")) document.head.append(el("style", { id: "md-style", text: CSS }));
    const api = { ready: null, desk: null, unpack, decode };
    window.mixingDesk = api;
    try {  // synchronous: the desk is there when the page has loaded
      api.desk = Desk(root, loadData(window.MIXING_DESK_DATA));
      Object.assign(api, api.desk);
      root.dataset.ready = "true";
    } catch (err) {
      root.textContent = "";
      root.append(el("p", { class: "md-error", text: "The mixing desk could not start: " + err.message }));
      root.dataset.ready = "error";
      console.warn("mixing desk:", err);
    }
    api.ready = Promise.resolve(api);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
