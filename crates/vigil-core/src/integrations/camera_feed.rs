//! What the MQTT bridge reads from the camera core besides events: the camera list (to
//! announce cameras that have not changed since the bridge connected) and a violation's
//! annotated frame (for the `snapshot` topic).

use std::sync::Arc;

use super::mqtt::{CameraSource, MqttBridge, SnapshotSource};
use crate::cameras::Cameras;
use crate::error::Error;

/// Every camera as its API JSON.
pub fn camera_list(cameras: Arc<Cameras>) -> CameraSource {
    Arc::new(move || {
        let cameras = Arc::clone(&cameras);
        Box::pin(async move {
            let views = cameras.list().await?;
            Ok(views
                .iter()
                .filter_map(|v| serde_json::to_value(v).ok())
                .collect())
        })
    })
}

/// A violation's annotated frame (JPEG); `None` when the violation or its picture is
/// gone (deleted, or past retention, by the time it is read).
pub fn violation_frames(cameras: Arc<Cameras>) -> SnapshotSource {
    Arc::new(move |violation_id: String| {
        let cameras = Arc::clone(&cameras);
        Box::pin(async move {
            match cameras.violation_picture(&violation_id, false).await {
                Ok(jpeg) => Ok(Some(jpeg.to_vec())),
                Err(Error::NotFound(_)) => Ok(None),
                Err(e) => Err(anyhow::anyhow!("{e}")),
            }
        })
    })
}

impl MqttBridge {
    /// Wires the camera core: cameras announced on connect, violation pictures on the
    /// `snapshot` topics.
    pub fn with_camera_core(self, cameras: Arc<Cameras>) -> MqttBridge {
        self.with_cameras(camera_list(Arc::clone(&cameras)))
            .with_snapshots(violation_frames(cameras))
    }
}
