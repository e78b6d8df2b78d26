// The Local-mode simulators (/api/v1/simulator/...), through the typed client: a change to
// their routes or answers breaks `tsc` here.
import { api, unwrap, type Schemas } from "./api/client";

export type SimDevice = Schemas["SimulatedDevice"];
export type SimNotification = Schemas["Notification"];
export type SimCall = Schemas["CallTurn"];

export function listDevices(): Promise<SimDevice[]> {
  return unwrap(api.GET("/api/v1/simulator/devices", { params: { query: { limit: 100 } } })).then(
    (r) => r.devices,
  );
}

export function deviceNotifications(id: string): Promise<SimNotification[]> {
  return unwrap(
    api.GET("/api/v1/simulator/devices/{device_id}/notifications", {
      params: { path: { device_id: id }, query: { limit: 50 } },
    }),
  ).then((r) => r.notifications);
}

export function placeCall(from: string): Promise<SimCall> {
  return unwrap(api.POST("/api/v1/simulator/calls", { body: { from } }));
}

export function sendDigits(sid: string, digits: string): Promise<SimCall> {
  return unwrap(
    api.POST("/api/v1/simulator/calls/{sid}/digits", { params: { path: { sid } }, body: { digits } }),
  );
}

export function hangUp(sid: string): Promise<SimCall> {
  return unwrap(api.POST("/api/v1/simulator/calls/{sid}/hangup", { params: { path: { sid } } }));
}

export function sendSms(from: string, body: string): Promise<Schemas["SmsReply"]> {
  return unwrap(api.POST("/api/v1/simulator/sms", { body: { from, body } }));
}
