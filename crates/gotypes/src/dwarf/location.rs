//! Decoding DWARF location expressions into [`Piece`]s.
//!
//! Go's compiler emits a small set of forms (cmd/compile/internal/ssa/debug.go,
//! cmd/internal/dwarf/dwarf.go): `DW_OP_call_frame_cfa`, `DW_OP_fbreg off`,
//! `DW_OP_regN`/`DW_OP_regx`, `DW_OP_addr`, each optionally followed by
//! `DW_OP_piece size`. A piece with no preceding location is optimised out.
//! The `DW_OP_consts`/`DW_OP_plus` and `DW_OP_plus_uconst` forms after
//! `DW_OP_call_frame_cfa` are accepted too. Anything else makes that piece
//! [`PieceLoc::Unsupported`].

use gimli::{Encoding, Expression, Operation, Reader};

use super::{Piece, PieceLoc};

/// Decode `expr`. `address` resolves `DW_OP_addrx` indices through `.debug_addr`.
pub(super) fn decode<R: Reader>(
    expr: Expression<R>,
    encoding: Encoding,
    address: &dyn Fn(gimli::DebugAddrIndex<R::Offset>) -> Option<u64>,
) -> Vec<Piece> {
    let mut pieces = Vec::new();
    // The location being described for the current piece, if any.
    let mut cur: Option<PieceLoc> = None;
    // A constant pushed after DW_OP_call_frame_cfa, waiting for DW_OP_plus.
    let mut pushed: Option<i64> = None;
    let mut ops = expr.operations(encoding);
    loop {
        let op = match ops.next() {
            Ok(Some(op)) => op,
            Ok(None) => break,
            Err(_) => {
                cur = Some(PieceLoc::Unsupported);
                break;
            }
        };
        let frame_base = match cur {
            Some(PieceLoc::FrameOffset(off)) => Some(off),
            _ => None,
        };
        cur = Some(match (op, frame_base, pushed.take()) {
            (Operation::CallFrameCFA, _, None) => PieceLoc::FrameOffset(0),
            (Operation::FrameOffset { offset }, _, None) => PieceLoc::FrameOffset(offset),
            (Operation::SignedConstant { value }, Some(off), None) => {
                pushed = Some(value);
                PieceLoc::FrameOffset(off)
            }
            (Operation::UnsignedConstant { value }, Some(off), None) => {
                pushed = i64::try_from(value).ok();
                if pushed.is_some() {
                    PieceLoc::FrameOffset(off)
                } else {
                    PieceLoc::Unsupported
                }
            }
            (Operation::Plus, Some(off), Some(c)) => frame_offset(off.checked_add(c)),
            (Operation::Minus, Some(off), Some(c)) => frame_offset(off.checked_sub(c)),
            (Operation::PlusConstant { value }, Some(off), None) => {
                frame_offset(i64::try_from(value).ok().and_then(|v| off.checked_add(v)))
            }
            (Operation::Register { register }, _, None) => PieceLoc::Register(register.0),
            (Operation::Address { address }, _, None) => PieceLoc::Addr(address),
            (Operation::AddressIndex { index }, _, None) => {
                address(index).map_or(PieceLoc::Unsupported, PieceLoc::Addr)
            }
            (Operation::Piece { size_in_bits, .. }, _, None) => {
                pieces.push(Piece {
                    loc: cur.take().unwrap_or(PieceLoc::Empty),
                    size: Some(size_in_bits / 8),
                });
                continue;
            }
            _ => PieceLoc::Unsupported,
        });
    }
    if let Some(loc) = cur {
        let loc = if pushed.is_some() {
            PieceLoc::Unsupported
        } else {
            loc
        };
        pieces.push(Piece { loc, size: None });
    }
    pieces
}

fn frame_offset(off: Option<i64>) -> PieceLoc {
    off.map_or(PieceLoc::Unsupported, PieceLoc::FrameOffset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gimli::{EndianSlice, Format, LittleEndian};

    fn run(bytes: &[u8]) -> Vec<Piece> {
        let encoding = Encoding {
            format: Format::Dwarf32,
            version: 5,
            address_size: 8,
        };
        let expr = Expression(EndianSlice::new(bytes, LittleEndian));
        decode(expr, encoding, &|i| Some(0x1000 + i.0 as u64))
    }

    fn whole(loc: PieceLoc) -> Vec<Piece> {
        vec![Piece { loc, size: None }]
    }

    #[test]
    fn frame_slots() {
        assert_eq!(run(&[0x9c]), whole(PieceLoc::FrameOffset(0)));
        // DW_OP_fbreg -120
        assert_eq!(run(&[0x91, 0x88, 0x7f]), whole(PieceLoc::FrameOffset(-120)));
        // DW_OP_call_frame_cfa; DW_OP_consts -16; DW_OP_plus
        assert_eq!(
            run(&[0x9c, 0x11, 0x70, 0x22]),
            whole(PieceLoc::FrameOffset(-16))
        );
        // DW_OP_call_frame_cfa; DW_OP_plus_uconst 8
        assert_eq!(run(&[0x9c, 0x23, 0x08]), whole(PieceLoc::FrameOffset(8)));
    }

    #[test]
    fn registers_addresses_and_pieces() {
        // DW_OP_reg0; DW_OP_piece 8; DW_OP_piece 8 (second half optimised out);
        // DW_OP_regx 33; DW_OP_piece 4
        assert_eq!(
            run(&[0x50, 0x93, 0x08, 0x93, 0x08, 0x90, 0x21, 0x93, 0x04]),
            vec![
                Piece {
                    loc: PieceLoc::Register(0),
                    size: Some(8)
                },
                Piece {
                    loc: PieceLoc::Empty,
                    size: Some(8)
                },
                Piece {
                    loc: PieceLoc::Register(33),
                    size: Some(4)
                },
            ]
        );
        // DW_OP_addr 0x573d20
        assert_eq!(
            run(&[0x03, 0x20, 0x3d, 0x57, 0, 0, 0, 0, 0]),
            whole(PieceLoc::Addr(0x573d20))
        );
        // DW_OP_addrx 2
        assert_eq!(run(&[0xa1, 0x02]), whole(PieceLoc::Addr(0x1002)));
    }

    #[test]
    fn unsupported_and_empty() {
        assert_eq!(run(&[]), vec![]);
        // DW_OP_fbreg -8; DW_OP_deref (a heap-moved variable)
        assert_eq!(run(&[0x91, 0x78, 0x06]), whole(PieceLoc::Unsupported));
        // DW_OP_call_frame_cfa; DW_OP_consts 8 with no DW_OP_plus
        assert_eq!(run(&[0x9c, 0x11, 0x08]), whole(PieceLoc::Unsupported));
        // Truncated DW_OP_addr
        assert_eq!(run(&[0x03, 0x20]), whole(PieceLoc::Unsupported));
    }
}
