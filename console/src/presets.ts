// Starting texts for the composer, Vietnamese first: staff pick one, then edit every field.
// (The server's own templates, alerting/templates.py, take ward codes only and have no list
// route; the composer writes CAP-form drafts so that a drawn polygon can be the area.)

export interface PresetText {
  event: string;
  headline: string;
  description: string;
  instruction: string;
}

export interface Preset {
  id: string;
  label: [string, string];
  category: string;
  severity: string;
  urgency: string;
  certainty: string;
  responseType: string[];
  vi: PresetText;
  en: PresetText;
}

export const PRESETS: Preset[] = [
  {
    id: "river_flood",
    label: ["Lũ trên sông", "River flood"],
    category: "Met",
    severity: "Severe",
    urgency: "Immediate",
    certainty: "Observed",
    responseType: ["Evacuate", "Avoid"],
    vi: {
      event: "Lũ",
      headline: "Cảnh báo lũ: nước sông đang lên, báo động cấp ba",
      description: "Mực nước sông đang lên trên báo động cấp ba và còn tiếp tục lên.",
      instruction:
        "Người dân vùng trũng thấp, ven sông hãy di chuyển ngay đến nơi an toàn theo hướng dẫn của chính quyền địa phương. Cần cứu giúp, gọi 1900 1075.",
    },
    en: {
      event: "Flood",
      headline: "Flood warning: the river is rising, alarm level 3",
      description: "The river is above alarm level 3 and still rising.",
      instruction:
        "People in low-lying areas and along the river: move to a safe place now, as the local authorities direct. For rescue, call 1900 1075.",
    },
  },
  {
    id: "heavy_rain",
    label: ["Mưa rất to", "Very heavy rain"],
    category: "Met",
    severity: "Moderate",
    urgency: "Expected",
    certainty: "Likely",
    responseType: ["Prepare", "Avoid"],
    vi: {
      event: "Mưa rất to",
      headline: "Cảnh báo mưa rất to, nguy cơ ngập úng",
      description: "Mưa rất to trên 100 mm trong 24 giờ, có nơi ngập úng.",
      instruction: "Không đi qua đường ngập, ngầm, tràn. Kê cao đồ đạc. Cần cứu giúp, gọi 1900 1075.",
    },
    en: {
      event: "Very heavy rain",
      headline: "Very heavy rain warning, flooding likely",
      description: "Over 100 mm of rain in 24 hours; some places flooded.",
      instruction: "Do not cross flooded roads or fords. Raise your belongings. For rescue, call 1900 1075.",
    },
  },
  {
    id: "flash_flood",
    label: ["Lũ quét, sạt lở đất", "Flash flood, landslide"],
    category: "Geo",
    severity: "Extreme",
    urgency: "Immediate",
    certainty: "Likely",
    responseType: ["Evacuate"],
    vi: {
      event: "Lũ quét, sạt lở đất",
      headline: "Cảnh báo lũ quét và sạt lở đất",
      description: "Mưa lớn kéo dài, nguy cơ rất cao xảy ra lũ quét và sạt lở đất ở vùng núi.",
      instruction: "Rời khỏi nhà ven suối, chân đồi ngay. Không quay lại khi chưa có thông báo an toàn.",
    },
    en: {
      event: "Flash flood, landslide",
      headline: "Flash flood and landslide warning",
      description: "Long, heavy rain: a very high risk of flash floods and landslides in the hills.",
      instruction: "Leave homes by streams and at the foot of hills now. Do not return until told it is safe.",
    },
  },
];

export const SEVERITIES = ["Extreme", "Severe", "Moderate", "Minor", "Unknown"];
export const URGENCIES = ["Immediate", "Expected", "Future", "Past", "Unknown"];
export const CERTAINTIES = ["Observed", "Likely", "Possible", "Unlikely", "Unknown"];
