/**
 * A job's registry login: the registry credential from the handout written as a Docker
 * `config.json` inside the job's own environment (sandbox or microVM alike), where docker, podman,
 * buildah and skopeo find it (DOCKER_CONFIG, REGISTRY_AUTH_FILE). The file's content travels as a
 * secret environment value (masked in the job's output, never on a command line, never in the
 * record), and a short shell prelude writes it with mode 0600 and unsets it before the job's command runs.
 */
import { dockerConfigJson } from "../src/auth/registry-credential.ts";

/** Where the job's Docker config lives (the job's private /tmp in a sandbox, the guest's /tmp in a VM). */
export const JOB_DOCKER_CONFIG_DIR = "/tmp/.nimbus-docker";
const CONTENT_VAR = "NIMBUS_DOCKER_CONFIG_JSON";
const PRELUDE = `umask 077; mkdir -p "$DOCKER_CONFIG" && printf '%s' "$${CONTENT_VAR}" > "$DOCKER_CONFIG/config.json"; unset ${CONTENT_VAR}; exec "$@"`;

export interface JobRegistryAuth {
  env: Record<string, string>;
  /** Secret environment values (masked in output). */
  secrets: Record<string, string>;
  /** Further values to mask: the credential itself. */
  mask: string[];
  wrap(command: string[]): string[];
}

/** `host` is HOST:PORT as the job reaches the registry (its gateway). */
export function jobRegistryAuth(host: string, credential: string): JobRegistryAuth {
  return {
    env: { DOCKER_CONFIG: JOB_DOCKER_CONFIG_DIR, REGISTRY_AUTH_FILE: `${JOB_DOCKER_CONFIG_DIR}/config.json` },
    secrets: { [CONTENT_VAR]: dockerConfigJson(host, credential) },
    mask: [credential],
    wrap: (command) => ["/bin/sh", "-c", PRELUDE, "nimbus-registry-auth", ...command],
  };
}

/**
 * dockerd's registry-mirrors endpoint for a docker job: the registry on the job's gateway
 * (`registryHost`, IP:PORT), where its pull-through mirror answers for Docker Hub's library/ images
 * (docs/registry.md). Only for a job with docker and a network to reach it.
 */
export function dockerMirror(registryHost: string | undefined, docker: boolean, network: boolean): string | undefined {
  return registryHost && docker && network ? `http://${registryHost}` : undefined;
}
