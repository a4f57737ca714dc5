import { Type } from "@sinclair/typebox";

/**
 * The error body of MetaStudio's API and of every path Doppel adds beside it (admin, worker protocol,
 * uploads): `{error_code, error_msg}`. Neutral ground, so that routes outside the dialects need not
 * import a dialect to describe their errors. ICE's envelope is its own (dialects/ice/envelope.ts).
 */
export const ErrorSchema = Type.Object(
  {
    error_code: Type.String({ description: "A stable code, e.g. MSS.00000001; see the README's Errors" }),
    error_msg: Type.String({ description: "What went wrong, fit to show to the caller" }),
  },
  { title: "ErrorBody" },
);
