"""VideoReader: frame-exact random access by integer index through the packet index (no seeks)."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from data_helpers import decode_image, frame_image

from physai.core.errors import DatasetError
from physai.data.video import VideoReader, write_video

ORDER = [7, 3, 11, 0, 1, 2, 12, 5, 6, 6, 9, 4, 8, 10, 13, 0]  # backwards, repeats, forward in a GOP, ends


@pytest.mark.parametrize("gop", [1, 2, 5])
def test_any_access_order_is_frame_exact(tmp_path, gop):
    n = 14
    assert write_video((frame_image(i, 64) for i in range(n)), tmp_path / "v.mp4", fps=10, gop=gop) == n
    r = VideoReader(tmp_path / "v.mp4", 10, cache_frames=3)
    assert r.frame_shape == (3, 64, 64)
    for i in ORDER:
        f = r.get_float(i)
        assert f.dtype == np.float32 and f.shape == (3, 64, 64) and 0.0 <= f.min() and f.max() <= 1.0
        assert decode_image(f) == i
        assert decode_image(r.get(i)) == i
        assert len(r._cache) <= 3  # bounded
    out = np.zeros((3, 64, 64), np.float32)
    assert r.get_float(9, out=out) is out and decode_image(out) == 9
    # float output is the uint8 RGB frame / 255, compared to the original within codec tolerance
    np.testing.assert_allclose(r.get_float(4), r.get(4).transpose(2, 0, 1) / 255, atol=1e-6)
    assert np.abs(r.get(4).astype(float) - frame_image(4, 64)).mean() < 4
    assert r.count() == n
    r.close()


def test_b_frames_and_decoder_delay(tmp_path):
    """Files from other encoders (B-frames, decode order != display order) still read frame-exact."""
    path = tmp_path / "b.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width = s.height = 64
        s.pix_fmt = "yuv420p"
        s.codec_context.time_base = Fraction(1, 10)
        s.options = {"preset": "medium", "x264-params": "keyint=6:bframes=2:scenecut=0"}
        for i in range(20):
            vf = av.VideoFrame.from_ndarray(frame_image(i, 64), format="rgb24")
            vf.pts = i
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    r = VideoReader(path, 10, cache_frames=4)
    for i in [19, 0, 5, 3, 4, 17, 18, 1, 12, 2, 19, *range(20)]:
        assert decode_image(r.get_float(i)) == i


def test_missing_frame_and_file_raise_dataset_error(tmp_path):
    write_video((frame_image(i, 32) for i in range(4)), tmp_path / "v.mp4", fps=10)
    r = VideoReader(tmp_path / "v.mp4", 10)
    with pytest.raises(DatasetError, match="frame 9 is not in the video"):
        r.get(9)
    with pytest.raises(DatasetError, match="cannot open video"):
        VideoReader(tmp_path / "missing.mp4", 10).get(0)
