"""nn.utils.rnn: pad_sequence, PackedSequence and pack/pad helpers (torch's layout), which
nn.RNN / LSTM / GRU accept.

>>> import pyrch
>>> from pyrch.nn.utils.rnn import pad_sequence, pack_padded_sequence
>>> pad_sequence([pyrch.tensor([1, 2, 3]), pyrch.tensor([4])], batch_first=True)
tensor([[1, 2, 3],
        [4, 0, 0]])
>>> pack_padded_sequence(pyrch.tensor([[1, 2, 3], [4, 0, 0]]), [3, 1], batch_first=True).data
tensor([1, 4, 2, 3])
"""
from collections import namedtuple

__all__ = ["PackedSequence", "pad_sequence", "pack_padded_sequence", "pad_packed_sequence",
           "pack_sequence", "unpack_sequence", "unpad_sequence"]


def _pyrch():
    import pyrch
    return pyrch


def _invert_permutation(perm):
    if perm is None:
        return None
    pyrch = _pyrch()
    inv = pyrch.empty_like(perm)
    inv[perm] = pyrch.arange(perm.numel(), dtype=perm.dtype, device=perm.device)
    return inv


class PackedSequence(namedtuple("PackedSequence",
                                ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """Variable-length sequences packed time-major: `data` holds, for each time step t,
    the rows of the `batch_sizes[t]` sequences still running (longest first, in the order
    `sorted_indices` gives; `unsorted_indices` undoes it)."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = _invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def _with_data(self, data):
        return type(self)(data, self.batch_sizes, self.sorted_indices, self.unsorted_indices)

    def to(self, *args, **kwargs):
        """Move/cast `data` (the index tensors follow data's device)."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        move = lambda t: None if t is None else t.to(device=data.device)  # noqa: E731
        return type(self)(data, self.batch_sizes, move(self.sorted_indices),
                          move(self.unsorted_indices))

    def cpu(self):
        return self.to("cpu")

    def cuda(self, *args, **kwargs):
        return self._with_data(self.data.cuda(*args, **kwargs))

    def double(self):
        return self.to(dtype=_pyrch().float64)

    def float(self):
        return self.to(dtype=_pyrch().float32)

    @property
    def is_cuda(self):
        return self.data.is_cuda


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack tensors of shape (L_i, *) into (max L, B, *) (or (B, max L, *) with batch_first),
    filling the missing steps with `padding_value` on `padding_side`."""
    pyrch = _pyrch()
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got "
                           f"{padding_side}.")
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        missing = longest - s.shape[0]
        if missing:
            fill = pyrch.full((missing,) + tuple(s.shape[1:]), padding_value, dtype=s.dtype,
                              device=s.device)
            s = pyrch.cat([s, fill] if padding_side == "right" else [fill, s], 0)
        padded.append(s)
    return pyrch.stack(padded, 0 if batch_first else 1)


def _as_list(lengths):
    return [int(n) for n in (lengths.tolist() if hasattr(lengths, "tolist") else lengths)]


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded (T, B, *) batch (or (B, T, *) with batch_first) whose column b holds a
    sequence of lengths[b] steps. With enforce_sorted, lengths must be non-increasing."""
    pyrch = _pyrch()
    lengths = _as_list(lengths)
    if batch_first:
        input = input.transpose(0, 1)
    sorted_indices = None
    if enforce_sorted:
        if any(a < b for a, b in zip(lengths, lengths[1:])):
            raise RuntimeError(
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is "
                "True. You can pass `enforce_sorted=False` to pack_padded_sequence and/or "
                "pack_sequence to sidestep this requirement if you do not need ONNX "
                "exportability.")
    else:
        order = sorted(range(len(lengths)), key=lambda b: -lengths[b])   # stable, longest first
        sorted_indices = pyrch.tensor(order, dtype=pyrch.int64, device=input.device)
        lengths = [lengths[b] for b in order]
        input = input.index_select(1, sorted_indices)
    if lengths and lengths[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an "
                           "element in 'lengths' that is <= 0")
    batch_sizes = [sum(1 for n in lengths if n > t) for t in range(lengths[0])]
    data = pyrch.cat([input[t, :bs] for t, bs in enumerate(batch_sizes)], 0)
    return PackedSequence(data, pyrch.tensor(batch_sizes, dtype=pyrch.int64), sorted_indices,
                          None)


def _padded_sorted(sequence, padding_value, total_length=None):
    """(T, B, *) in the packed (sorted) column order, and the sorted lengths."""
    pyrch = _pyrch()
    data, sizes = sequence.data, _as_list(sequence.batch_sizes)
    batch = sizes[0]
    rest = tuple(data.shape[1:])
    steps, off = [], 0
    for bs in sizes:
        chunk = data[off:off + bs]
        off += bs
        if bs < batch:
            chunk = pyrch.cat([chunk, pyrch.full((batch - bs,) + rest, padding_value,
                                                 dtype=data.dtype, device=data.device)], 0)
        steps.append(chunk)
    out = pyrch.stack(steps, 0)
    if total_length is not None and total_length > len(sizes):
        fill = pyrch.full((total_length - len(sizes), batch) + rest, padding_value,
                          dtype=data.dtype, device=data.device)
        out = pyrch.cat([out, fill], 0)
    lengths = [sum(1 for bs in sizes if bs > b) for b in range(batch)]
    return out, lengths


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Undo pack_padded_sequence: (padded batch in the original column order, lengths as an
    int64 tensor). `total_length` pads the time dim to that many steps."""
    pyrch = _pyrch()
    max_len = int(sequence.batch_sizes.shape[0])
    if total_length is not None and total_length < max_len:
        raise ValueError("Expected total_length to be at least the length of the longest "
                         f"sequence in input, but got total_length={total_length} and max "
                         f"sequence length being {max_len}")
    out, lengths = _padded_sorted(sequence, padding_value, total_length)
    lengths = pyrch.tensor(lengths, dtype=pyrch.int64)
    if sequence.unsorted_indices is not None:
        out = out.index_select(1, sequence.unsorted_indices)
        lengths = lengths[sequence.unsorted_indices.to(device="cpu")]
    if batch_first:
        out = out.transpose(0, 1)
    return out, lengths


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of (L_i, *) tensors (pad_sequence, then pack_padded_sequence)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """Split a padded batch back into a list of its (lengths[b], *) sequences."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [seq[:n] for seq, n in zip(padded_sequences, _as_list(lengths))]


def unpack_sequence(packed_sequences):
    """Split a PackedSequence back into the list of its sequences (original order)."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


def _packed_rnn_forward(rnn, packed, hx):
    """nn.RNN/LSTM/GRU over a PackedSequence: each run of equal-length sequences goes
    through the module's padded path as one batch, so every sequence stops at its own
    length (and a reverse direction starts at its own last step). The output is packed
    like the input; the final states are in the original batch order, as in torch."""
    pyrch = _pyrch()
    is_lstm = rnn.mode == "LSTM"
    padded, lengths = _padded_sorted(packed, 0.0)
    batch = len(lengths)
    dirs = 2 if rnn.bidirectional else 1
    h_size = (rnn.num_layers * dirs, batch, rnn.proj_size or rnn.hidden_size)
    c_size = (rnn.num_layers * dirs, batch, rnn.hidden_size)
    perm = packed.sorted_indices
    if hx is not None:
        states = list(hx) if is_lstm else [hx]
        for k, (t, want) in enumerate(zip(states, (h_size, c_size))):
            if tuple(t.shape) != want:
                what = f"hidden[{k}]" if is_lstm else "hidden"
                raise RuntimeError(f"Expected {what} size {want}, got {list(t.shape)}")
        if perm is not None:
            states = [t.index_select(1, perm.to(device=t.device)) for t in states]
    outs, hs, cs = [], [], []
    start = 0
    while start < batch:
        stop = start
        while stop < batch and lengths[stop] == lengths[start]:
            stop += 1
        n = lengths[start]
        x = padded[:n, start:stop]
        if rnn.batch_first:
            x = x.transpose(0, 1)
        h0 = None
        if hx is not None:
            h0 = tuple(t[:, start:stop] for t in states) if is_lstm else states[0][:, start:stop]
        out, h = rnn(x, h0)
        if rnn.batch_first:
            out = out.transpose(0, 1)
        outs.append(out)
        if is_lstm:
            hs.append(h[0])
            cs.append(h[1])
        else:
            hs.append(h)
        start = stop
    sizes = _as_list(packed.batch_sizes)
    # time step t of the packed output: the first sizes[t] groups' rows at t, in order
    rows = []
    for t, bs in enumerate(sizes):
        rows.extend(o[t] for o in outs if o.shape[0] > t)
    data = pyrch.cat(rows, 0)
    out = PackedSequence(data, packed.batch_sizes, packed.sorted_indices,
                         packed.unsorted_indices)
    h_n = pyrch.cat(hs, 1)
    c_n = pyrch.cat(cs, 1) if is_lstm else None
    if packed.unsorted_indices is not None:
        back = packed.unsorted_indices.to(device=h_n.device)
        h_n = h_n.index_select(1, back)
        c_n = c_n.index_select(1, back) if is_lstm else None
    return (out, (h_n, c_n)) if is_lstm else (out, h_n)
