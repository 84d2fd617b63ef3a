import { x } from "@actorlm/runtime"; import { y } from "@actorlm/tensor"; export const z: number = x + y;
