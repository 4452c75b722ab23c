/* heartsound web app: the recorder. An AudioWorkletProcessor that hands the microphone's
 * mono samples to the page in blocks of 2048 (its output stays silent). */
class HeartsoundRecorder extends AudioWorkletProcessor {
  constructor() {
    super();
    this.block = new Float32Array(2048);
    this.filled = 0;
  }

  process(inputs) {
    const channels = inputs[0];
    if (channels && channels.length) {
      const x = channels[0];
      let i = 0;
      while (i < x.length) {
        const n = Math.min(x.length - i, this.block.length - this.filled);
        this.block.set(x.subarray(i, i + n), this.filled);
        this.filled += n;
        i += n;
        if (this.filled === this.block.length) {
          this.port.postMessage(this.block);
          this.block = new Float32Array(2048);
          this.filled = 0;
        }
      }
    }
    return true;
  }
}

registerProcessor("heartsound-recorder", HeartsoundRecorder);
