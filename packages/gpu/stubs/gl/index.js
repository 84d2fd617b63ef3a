// actorlm never uses gpu.js's headless-gl mode: loading it fails, as gpu.js expects when the addon is absent.
throw new Error("headless-gl is not installed (actorlm runs gpu.js in its cpu and webgpu modes only)");
