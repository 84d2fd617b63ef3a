import { z } from "@actorlm/llm"; export const w = z;
