// Tongban console: the few things a server-rendered page cannot do alone.
// - The camera: show the device camera and, on "capture", put the frame into the photo
//   form's file input and submit it, so a capture is verified exactly like an upload.
// - Print buttons and copy buttons.
"use strict";

function setupCamera(box) {
  const form = box.closest("form");
  const video = box.querySelector("video");
  const start = box.querySelector("#camera-start");
  const capture = box.querySelector("#camera-capture");
  const status = box.querySelector("#camera-status");
  const input = form.querySelector("input[type=file]");
  let stream = null;

  start.addEventListener("click", async () => {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      status.textContent = "此浏览器无法使用摄像头。 This browser cannot use a camera.";
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "environment", width: { ideal: 1280 }, height: { ideal: 720 } },
        audio: false,
      });
      video.srcObject = stream;
      video.setAttribute("data-live", "");
      await video.play();
      capture.disabled = false;
      status.textContent = "对准二维码后点击“拍照核验”。 Aim at the QR code, then capture.";
    } catch (e) {
      status.textContent = "无法打开摄像头：" + e.name + " Cannot open the camera.";
    }
  });

  capture.addEventListener("click", () => {
    if (!video.videoWidth) {
      status.textContent = "摄像头尚未就绪。 The camera is not ready yet.";
      return;
    }
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob((blob) => {
      const files = new DataTransfer();
      files.items.add(new File([blob], "camera.png", { type: "image/png" }));
      input.files = files.files;
      if (stream) stream.getTracks().forEach((t) => t.stop());
      status.textContent = "正在核验… Verifying…";
      form.requestSubmit();
    }, "image/png");
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-camera]").forEach(setupCamera);
  document.querySelectorAll("[data-print]").forEach((b) =>
    b.addEventListener("click", () => window.print()));
  document.querySelectorAll("[data-copy]").forEach((b) =>
    b.addEventListener("click", async () => {
      const source = document.querySelector(b.getAttribute("data-copy"));
      source.select();
      try { await navigator.clipboard.writeText(source.value); } catch (e) { document.execCommand("copy"); }
      b.textContent = "已复制 Copied";
    }));
});
