/** The one method of reference/guarded-grpc.ts (its own module: importing the server would start it). */
export const GUARDED_METHOD = "/bench.v1.Orders/Get";
