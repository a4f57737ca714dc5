import { type Static, Type } from "@sinclair/typebox";
import { StringEnum } from "./string-enum.js";

/**
 * The verify stage's report (src/pipeline/stages/verify.stage.ts) as the admin review queue and
 * MetaStudio's Doppel extension answer it: as stored, with a signed download `url` (valid 24 hours) on
 * every image it names. Neutral ground, as both documents describe it.
 */

/** What ffprobe read of the training video (src/media/probe.ts's MediaProbe). */
const MediaProbeSchema = Type.Object({
  formatName: Type.String({ description: 'ffprobe\'s demuxer names, e.g. "mov,mp4,m4a,3gp,3g2,mj2"' }),
  durationSeconds: Type.Number(),
  sizeBytes: Type.Number(),
  video: Type.Union([
    Type.Object({
      codec: Type.String(),
      width: Type.Integer({ description: "As displayed (rotation applied)" }),
      height: Type.Integer({ description: "As displayed (rotation applied)" }),
      fps: Type.Number(),
      rotation: Type.Integer({
        description: "Clockwise degrees the player turns the picture: 0, 90, 180 or 270",
      }),
      pixelFormat: Type.String(),
    }),
    Type.Null(),
  ]),
  audio: Type.Union([
    Type.Object({ codec: Type.String(), sampleRate: Type.Number(), channels: Type.Integer() }),
    Type.Null(),
  ]),
});

/** A face's box in whole pixels of the image it is on, within the image. */
const FaceBoxSchema = Type.Object(
  {
    x: Type.Integer({ minimum: 0, description: "Left edge, pixels from the image's left" }),
    y: Type.Integer({ minimum: 0, description: "Top edge, pixels from the image's top" }),
    width: Type.Integer({ minimum: 0 }),
    height: Type.Integer({ minimum: 0 }),
  },
  { title: "FaceBox" },
);

/** The fields of a JPEG the verify stage kept, with its signed URL. */
const verifyImageFields = {
  name: Type.String({ description: "frame-<sha256>.jpg or consent-<sha256>.jpg" }),
  sha256: Type.String({ description: "Hex SHA-256 of the JPEG: its download's ETag" }),
  size: Type.Integer({ description: "Bytes" }),
  width: Type.Integer({ description: "Pixels; at most 640" }),
  height: Type.Integer({ description: "Pixels" }),
  url: Type.String({ description: "Signed download URL (GET or HEAD), valid 24 hours" }),
};

const VerifyFrameSchema = Type.Object(
  {
    ...verifyImageFields,
    timeSeconds: Type.Number({ description: "Where in the training video the frame was sampled" }),
    faces: Type.Array(
      Type.Object({
        box: FaceBoxSchema,
        yawDegrees: Type.Number({ description: "Head turn; 0 looks into the camera" }),
      }),
      { description: "The faces found on the frame, largest first" },
    ),
  },
  { title: "VerifyFrame" },
);

/**
 * The report. `files`, `frames` and `consent` are optional because reports written before they
 * existed lack them: a report that does not fit its schema would make the serializer refuse the answer.
 */
export const VerifyReportSchema = Type.Object(
  {
    policy: Type.String({ description: "The verify policy the job was checked under (--verify-policy)" }),
    files: Type.Optional(
      Type.Record(
        Type.String(),
        Type.Object({ sha256: Type.String(), size: Type.Number(), contentType: Type.String() }),
        {
          description:
            "Every file the job had when it was checked, by slot: exactly these bytes were verified",
        },
      ),
    ),
    probe: MediaProbeSchema,
    faces: Type.Object({
      samples: Type.Integer({ description: "Frames sampled" }),
      singleFace: Type.Integer({ description: "Sampled frames that show exactly one face" }),
    }),
    frames: Type.Optional(
      Type.Array(VerifyFrameSchema, {
        description: "The sampled frames of the training video, in time order, as JPEGs with their faces",
      }),
    ),
    consent: Type.Optional(
      Type.Object({
        path: StringEnum(["video", "letter", "none"], {
          description: "A consent video matched to the person, a letter left to an operator, or none",
        }),
        contentType: Type.Optional(Type.String()),
        distance: Type.Optional(
          Type.Number({ description: "Face distance between consent video and training video" }),
        ),
        frame: Type.Optional(
          Type.Object(
            { ...verifyImageFields, box: FaceBoxSchema },
            { description: "A frame of the consent video with its single face, when one was seen" },
          ),
        ),
        trainingFrame: Type.Optional(
          Type.Integer({
            minimum: 0,
            description: "With `frame`: the index in `frames` of the training video's face to show beside it",
          }),
        ),
      }),
    ),
    problems: Type.Array(Type.String()),
  },
  { title: "VerifyReport" },
);
export type VerifyReportBody = Static<typeof VerifyReportSchema>;
