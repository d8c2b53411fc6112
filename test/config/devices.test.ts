// DREAM_EXECUTION_PROVIDER as a device list: one runner per device for every served model.
import assert from "node:assert/strict";
import { devicesFrom } from "../../src/config/config";

describe("config: DREAM_EXECUTION_PROVIDER devices", () => {
  const ok: [string, string[]][] = [
    ["cpu", ["cpu"]],
    ["cuda", ["cuda"]],
    ["cuda:1", ["cuda:1"]],
    ["cuda:0,cuda:1", ["cuda:0", "cuda:1"]],
    [" cuda:0 , cuda:3 ", ["cuda:0", "cuda:3"]],
    ["cpu*2", ["cpu", "cpu"]],
    ["cpu×3", ["cpu", "cpu", "cpu"]],
    ["cuda*2", ["cuda:0", "cuda:1"]],
  ];
  for (const [spec, devices] of ok) it(`${JSON.stringify(spec)} → ${devices.join(", ")}`, () => assert.deepEqual(devicesFrom(spec), devices));

  for (const spec of ["gpu", "cpu*0", "cpu*17", "cuda:0,cuda:0", "cuda:0,,cpu", "rocm:1"]) {
    it(`${JSON.stringify(spec)} fails fast, naming the variable`, () => assert.throws(() => devicesFrom(spec), /DREAM_EXECUTION_PROVIDER/));
  }
});
