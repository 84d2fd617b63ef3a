/**
 * The Kubernetes manifests (deploy/kubernetes): rendered with `kubectl kustomize` (the base and the small overlay),
 * every object checked against Kubernetes' API schemas (kubernetes-models, generated from Kubernetes' OpenAPI
 * document: types, required fields, enums, formats), unknown fields refused (TypeScript's excess-property check of
 * each object against the same models' types, as `kubectl --validate=strict` would), and what ties them to actorlm:
 * probes on /health and /livez, a preStop drain that fits the termination grace period, flags `actorlm serve` knows,
 * the model under the volume's mount, memory at least the model's kernel high-water mark (info()) plus the process,
 * the HPA on actorlm_queue_size, selectors that match. kubectl comes from PATH (test/deploy/ensure-kubectl.sh
 * installs Debian's when missing) or ACTORLM_KUBECTL.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { Service } from "kubernetes-models/v1/Service";
import { PersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";
import { Deployment, type IDeployment } from "kubernetes-models/apps/v1/Deployment";
import { HorizontalPodAutoscaler, type IHorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { PodDisruptionBudget, type IPodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import type { IService } from "kubernetes-models/v1/Service";
import { hostModel, ROOT, runCli } from "../generation/helpers.js";

const KUBECTL = process.env.ACTORLM_KUBECTL ?? "kubectl";
const DIRS = ["deploy/kubernetes/base", "deploy/kubernetes/overlays/small"];

/** Each kind the manifests hold: its model class (schema validation) and its type in kubernetes-models. */
const KINDS: Record<string, { model: new (data: never) => { validate(): void }; type: string; module: string }> = {
  "apps/v1 Deployment": { model: Deployment, type: "IDeployment", module: "kubernetes-models/apps/v1/Deployment" },
  "v1 Service": { model: Service, type: "IService", module: "kubernetes-models/v1/Service" },
  "v1 PersistentVolumeClaim": { model: PersistentVolumeClaim, type: "IPersistentVolumeClaim", module: "kubernetes-models/v1/PersistentVolumeClaim" },
  "autoscaling/v2 HorizontalPodAutoscaler": { model: HorizontalPodAutoscaler, type: "IHorizontalPodAutoscaler", module: "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler" },
  "policy/v1 PodDisruptionBudget": { model: PodDisruptionBudget, type: "IPodDisruptionBudget", module: "kubernetes-models/policy/v1/PodDisruptionBudget" },
};

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } } & Record<string, unknown>;

/** `kubectl kustomize dir`, parsed. */
function render(dir: string): Manifest[] {
  let yaml: string;
  try {
    yaml = execFileSync(KUBECTL, ["kustomize", join(ROOT, dir)], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const why = (error as { code?: string; stderr?: string }).code === "ENOENT" ? `no ${KUBECTL}: run test/deploy/ensure-kubectl.sh (as root) or set ACTORLM_KUBECTL` : String((error as { stderr?: string }).stderr ?? error);
    throw new Error(`kubectl kustomize ${dir}: ${why}`);
  }
  return parseAllDocuments(yaml).map((d) => d.toJSON() as Manifest);
}

/** TypeScript's diagnostics for `objects` typed as their kubernetes-models interfaces (excess properties included). */
function typeErrors(objects: Manifest[]): string[] {
  const file = join(ROOT, "test/deploy/__rendered_manifests__.ts");
  const imports = Object.values(KINDS).map((k) => `import type { ${k.type} } from "${k.module}";`);
  const lines = objects.map((o, i) => `export const m${i}: ${KINDS[`${o.apiVersion} ${o.kind}`].type} = ${JSON.stringify(o, null, 2)};`);
  const source = [...imports, ...lines].join("\n");
  const options: ts.CompilerOptions = { strict: true, noEmit: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, types: [], skipLibCheck: true };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, version, ...rest) => (name === file ? ts.createSourceFile(name, source, version) : getSourceFile.call(host, name, version, ...rest));
  host.fileExists = (name) => name === file || fileExists.call(host, name);
  host.readFile = (name) => (name === file ? source : readFile.call(host, name));
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file !== undefined && d.start !== undefined ? `line ${d.file.getLineAndCharacterOfPosition(d.start).line + 1}: ` : "";
    return where + ts.flattenDiagnosticMessageText(d.messageText, "\n");
  });
}

const find = <T>(objects: Manifest[], kind: string) => objects.find((o) => o.kind === kind) as unknown as T;

describe.each(DIRS)("kubectl kustomize %s", (dir) => {
  const objects = render(dir);

  it("renders a Deployment, a Service, a PersistentVolumeClaim, an HPA and a PodDisruptionBudget, each valid against Kubernetes' API schemas", () => {
    expect(objects.map((o) => o.kind).sort()).toEqual(["Deployment", "HorizontalPodAutoscaler", "PersistentVolumeClaim", "PodDisruptionBudget", "Service"]);
    for (const o of objects) {
      const kind = KINDS[`${o.apiVersion} ${o.kind}`];
      expect(kind, `${o.apiVersion} ${o.kind}`).toBeDefined();
      expect(() => new kind.model(o as never).validate(), `${o.kind} ${o.metadata.name}`).not.toThrow();
    }
  });

  it("has no field the API does not define (TypeScript's excess-property check against the same schemas)", () => {
    expect(typeErrors(objects)).toEqual([]);
  }, 60_000);

  it("ties the objects to actorlm: probes, drain, flags, model volume, memory, autoscaling metric, selectors", async () => {
    const deployment = find<IDeployment>(objects, "Deployment");
    const pod = deployment.spec!.template.spec!;
    const [container] = pod.containers;
    expect(container.startupProbe?.httpGet?.path).toBe("/health");
    expect(container.readinessProbe?.httpGet?.path).toBe("/health");
    expect(container.livenessProbe?.httpGet?.path).toBe("/livez");
    expect(container.ports?.map((p) => p.containerPort)).toEqual([8080]);

    // every flag is one of `actorlm serve`'s
    const help = (await runCli(["serve", "--help"])).stdout;
    const args = container.args ?? [];
    for (const flag of args.filter((a) => a.startsWith("--"))) expect(help, flag).toContain(`${flag} `);
    const flag = (name: string) => args[args.indexOf(name) + 1];

    // drain: preStop, then SIGTERM with --shutdown-grace, all within the termination grace period (2 s to close cut-off connections)
    const preStop = Number(container.lifecycle?.preStop?.exec?.command?.at(-1));
    expect(preStop).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(preStop + Number(flag("--shutdown-grace")) / 1000 + 2);

    // the model lives under the read-only models volume
    const mount = container.volumeMounts!.find((m) => m.name === "models")!;
    expect(mount.readOnly).toBe(true);
    expect(flag("--model").startsWith(`${mount.mountPath}/`)).toBe(true);
    expect(pod.volumes!.find((v) => v.name === "models")?.persistentVolumeClaim?.claimName).toBe(find<Manifest>(objects, "PersistentVolumeClaim").metadata.name);

    // memory: requests = limits, and for the small overlay (the embedded model's size) at least its kernel memory
    // high-water mark as info() reports it with these settings, plus 150 MiB for the process
    const memory = container.resources?.limits?.memory;
    expect(container.resources?.requests?.memory).toBe(memory);
    if (dir.endsWith("small")) {
      const model = await hostModel({ threads: Number(flag("--threads")), maxConcurrentRequests: Number(flag("--max-concurrent")) });
      try {
        const { memoryHighWaterBytes } = await model.host.call("info");
        expect(bytes(String(memory))).toBeGreaterThanOrEqual(memoryHighWaterBytes + 150 * 2 ** 20);
      } finally {
        await model.close();
      }
    }

    // scaling on the per-replica queue, of this Deployment
    const hpa = find<IHorizontalPodAutoscaler>(objects, "HorizontalPodAutoscaler");
    expect(hpa.spec!.scaleTargetRef).toMatchObject({ apiVersion: "apps/v1", kind: "Deployment", name: deployment.metadata!.name });
    expect(hpa.spec!.metrics?.map((m) => m.pods?.metric.name)).toEqual(["actorlm_queue_size"]);

    // the Service and the PodDisruptionBudget select the Deployment's Pods
    const labels = deployment.spec!.template.metadata!.labels!;
    const service = find<IService>(objects, "Service");
    const pdb = find<IPodDisruptionBudget>(objects, "PodDisruptionBudget");
    for (const selector of [service.spec!.selector!, pdb.spec!.selector!.matchLabels!, deployment.spec!.selector.matchLabels!]) {
      for (const [k, v] of Object.entries(selector)) expect(labels[k], k).toBe(v);
    }
    expect(service.spec!.ports!.map((p) => p.targetPort)).toEqual(["http"]);
  });
});

/** A Kubernetes memory quantity (Ki, Mi, Gi or plain bytes) in bytes. */
function bytes(quantity: string): number {
  const m = /^(\d+)(Ki|Mi|Gi)?$/.exec(quantity);
  if (m === null) throw new Error(`unexpected quantity ${quantity}`);
  return Number(m[1]) * { "": 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 }[m[2] ?? ""]!;
}
